"""The base stage builds a real tokenizer and Llama from a config, and can pretrain it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.compiler.stages.base import BaseConfig
from llmops.errors import StageFailed
from llmops.runners.base.run import run
from llmops.runners.registry import typed_config

QA = [{"text": f"Where is parcel {n}?", "answer": f"Parcel {n} arrives on day {n % 7}."} for n in range(60)]


def _config(pretrain_steps: int = 0, **config: object) -> BaseConfig:
    return typed_config(_config_data(pretrain_steps, **config))  # type: ignore[return-value]


def _config_data(pretrain_steps: int = 0, **config: object) -> dict:
    return {
        "stage": "base-t",
        "kind": "base",
        "runner_version": 1,
        "spec": {
            "name": "t",
            "base_model": {
                "build": {
                    "architecture": "llama",
                    "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, **config},
                    "tokenizer_dataset": "qa",
                    "vocab_size": 300,
                    "pretrain_steps": pretrain_steps,
                    "pretrain_lr": 1e-2,
                    "pretrain_batch_size": 8,
                    "max_length": 32,
                    "text_columns": ["text", "answer"],
                }
            },
        },
        "inputs": {"dataset": "qa", "seed": 3},
        "outputs": {"outs": ["base"], "metrics": ["metrics/base-t.json"], "plots": [], "reports": []},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA[:50]))
    (tmp_path / "qa" / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA[50:]))
    return tmp_path


def test_built_model_loads_from_safetensors_without_remote_code(root: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run(_config(), root)
    model = AutoModelForCausalLM.from_pretrained(root / "base", use_safetensors=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    assert model.config.vocab_size == len(tokenizer)
    text = "Where is parcel 12? ünïcode 🙂"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    metrics = json.loads((root / "metrics/base-t.json").read_text())
    assert metrics["params"] == sum(p.numel() for p in model.parameters())
    card = json.loads((root / "base/llmops-model.json").read_text())
    assert card["adapter"] is False and card["runner_version"] == 1
    assert card["built"] == _config_data()["spec"]["base_model"]["build"]


def test_same_seed_builds_identical_weights(root: Path):
    run(_config(), root)
    first = (root / "base/model.safetensors").read_bytes()
    run(_config(), root)
    assert (root / "base/model.safetensors").read_bytes() == first


def test_pretraining_lowers_the_held_out_loss(root: Path):
    run(_config(pretrain_steps=40), root)
    metrics = json.loads((root / "metrics/base-t.json").read_text())
    assert metrics["pretrain_steps"] == 40
    assert metrics["pretrain_eval_loss"] < metrics["pretrain_eval_loss_start"] * 0.7


def test_bad_llama_config_names_the_field(root: Path):
    with pytest.raises(
        StageFailed, match=r"not a valid Llama config: .*hidden size \(32\) is not a multiple"
    ):
        run(_config(num_attention_heads=3), root)
    assert not (root / "base").exists()


def test_empty_corpus_is_an_error(root: Path):
    (root / "qa" / "train.jsonl").write_text(json.dumps({"label": "x"}) + "\n")
    with pytest.raises(StageFailed, match="no text in columns text, answer"):
        run(_config(), root)
