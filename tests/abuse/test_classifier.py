"""The optional classifier: a local Hugging Face text-classification folder (safetensors only),
wired into the gateway's guard. The model here is a tiny random BERT whose head always says
INJECTION: the test is about loading and plumbing, not about the model's judgement."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import UsageError

pytest.importorskip("transformers")


def _tiny_classifier(folder: Path, labels: dict[int, str], safetensors: bool = True) -> Path:
    import tokenizers
    import torch
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "where", "is", "my", "parcel", "ignore"]
    wordlevel = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, "[UNK]")
    )
    wordlevel.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordlevel, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([-8.0, 8.0]))  # class 1 always, p ~ 1
    model.save_pretrained(folder)  # transformers 5 writes safetensors only
    tokenizer.save_pretrained(folder)
    if not safetensors:  # the same weights as a pickle, which the loader must refuse
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


def test_a_local_classifier_flags_through_the_guard(tmp_path: Path) -> None:
    import asyncio

    from llmops.compiler.kinds.deployment import Abuse
    from llmops.gateway.abuse import guard_from_spec

    _tiny_classifier(tmp_path / "models" / "guard", {0: "SAFE", 1: "INJECTION"})
    abuse = Abuse.model_validate({"classifier": {"path": "models/guard", "threshold": 0.9}})
    guard = guard_from_spec(abuse, None, tmp_path)
    assert asyncio.run(guard.flags("where is my parcel", "web", 0.0)) == ["prompt_injection"]
    off = guard_from_spec(
        Abuse.model_validate({"classifier": {"path": "models/guard", "threshold": 1.0}}), None, tmp_path
    )
    assert asyncio.run(off.flags("where is my parcel", "web", 0.0)) == []  # under its threshold


def test_a_model_without_an_attack_label_or_without_safetensors_is_refused(tmp_path: Path) -> None:
    from llmops.abuse.classifier import load

    options = {
        "revision": None,
        "labels": {"INJECTION": "prompt_injection"},
        "threshold": 0.9,
        "max_tokens": 32,
    }
    _tiny_classifier(tmp_path / "plain", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(UsageError, match="none of"):
        load(str(tmp_path / "plain"), **options)
    _tiny_classifier(tmp_path / "pickled", {0: "SAFE", 1: "INJECTION"}, safetensors=False)
    with pytest.raises(UsageError, match="safetensors"):
        load(str(tmp_path / "pickled"), **options)
