"""Generation for evaluation: batched Transformers on CPU or GPU (`llmops.hf.generate`, shared
with the review stage), vLLM on GPU runners.

Both engines get the same prompt strings and the same sampling settings, so at temperature 0
they should agree; the runner records which engine produced the predictions. Teacher-forced
log-likelihoods of the references (for perplexity) always come from Transformers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import UsageError
from llmops.hf.generate import Generated, cut_at_stop

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import Generation


def choose_engine(requested: str) -> str:
    """`auto` takes vLLM when a CUDA GPU and the `gpu` extra are there, else Transformers."""
    if requested == "transformers":
        return "transformers"
    has_vllm = _vllm_importable()
    cuda = _cuda()
    if requested == "vllm":
        if not (cuda and has_vllm):
            raise UsageError(
                "generation.engine vllm needs a CUDA GPU and the gpu extra (pip install 'llmops[gpu]'); "
                "use engine: transformers or auto on this machine"
            )
        return "vllm"
    return "vllm" if cuda and has_vllm else "transformers"


def vllm_settings(
    model_dir: str, revision: str | None, card: dict[str, Any] | None, generation: Generation, seed: int
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(LLM kwargs, SamplingParams kwargs, LoRA adapter dir or None) for vLLM, kept pure so the
    exact configuration is tested on machines without a GPU."""
    adapter = None
    model = model_dir
    if card and card.get("adapter"):
        if card.get("merged"):
            model = str(Path(model_dir) / card["merged"])
        elif card.get("method", {}).get("type") in ("lora", "qlora"):
            adapter = model_dir
            model = card["base_model"].get("path") or card["base_model"]["hub"]
            revision = card["base_model"].get("revision")
        else:
            raise UsageError(
                "vLLM serves LoRA adapters or merged models; use engine: transformers for "
                "prompt-tuning models"
            )
    llm: dict[str, Any] = {"model": model, "seed": seed, "trust_remote_code": False, "dtype": "auto"}
    if adapter:
        llm.update(enable_lora=True, max_lora_rank=max(8, int(card["method"]["r"])))
    if revision:
        llm["revision"] = revision
    sampling = {
        "max_tokens": generation.max_new_tokens,
        "temperature": generation.temperature,
        "top_p": generation.top_p,
        "stop": list(generation.stop) or None,
        "seed": seed,
    }
    return llm, sampling, adapter


def generate_vllm(
    model_dir: str,
    revision: str | None,
    card: dict[str, Any] | None,
    prompts: Sequence[str],
    generation: Generation,
    seed: int,
) -> Generated:
    from vllm import LLM, SamplingParams

    llm_kwargs, sampling_kwargs, adapter = vllm_settings(model_dir, revision, card, generation, seed)
    llm = LLM(**llm_kwargs)
    request = None
    if adapter:
        from vllm.lora.request import LoRARequest

        request = LoRARequest("tuned", 1, adapter)
    started = time.perf_counter()
    outputs = llm.generate(list(prompts), SamplingParams(**sampling_kwargs), lora_request=request)
    predictions = [cut_at_stop(o.outputs[0].text, generation.stop) for o in outputs]
    return Generated(predictions, time.perf_counter() - started, "vllm")


def reference_nll(
    model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str], batch_size: int
) -> tuple[list[float], list[int]]:
    """Per example: summed negative log-likelihood of the completion given the prompt, and its
    token count (the completion's tokens plus end of sequence, as the tune stage trains them).

    Examples run longest first, so each batch holds examples of about the same length and pads
    little; the results come back in the order of `prompts`. The model reads the whole sequence
    (the prompt is the context), but the vocabulary projection and the loss cover only the
    positions that predict a completion token, not the prompt's."""
    import torch

    from llmops.training.examples import Example
    from llmops.training.tokenize import IGNORE, PadCollator, encode

    rows = encode(
        [Example(p, c) for p, c in zip(prompts, completions, strict=True)],
        tokenizer,
        max_length=_context(model),
        completion_only=True,
        packing=False,
    ).rows
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]), reverse=True)
    collate = PadCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    keep_only = _takes_logits_to_keep(model)
    sums: list[float] = [0.0] * len(rows)
    counts: list[int] = [0] * len(rows)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate([rows[i] for i in chosen]).items()}
            targets = batch["labels"][:, 1:]  # position t predicts token t + 1
            mask = targets != IGNORE
            if not bool(mask.any()):  # every completion truncated away: nothing to score
                continue
            first = int(mask.any(dim=0).nonzero()[0])  # the first position that predicts a completion
            width = targets.shape[1] - first
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            if keep_only:  # logits of the last width + 1 positions only; the last predicts past the end
                logits = model(**inputs, logits_to_keep=width + 1).logits[:, :-1]
            else:
                logits = model(**inputs).logits[:, first:-1]
            kept = mask[:, first:]  # the completion tokens (not the padding) in the kept window
            losses = torch.zeros(kept.shape, dtype=torch.float32, device=logits.device)
            losses[kept] = torch.nn.functional.cross_entropy(
                logits[kept].float(), targets[:, first:][kept], reduction="none"
            )
            for i, total, count in zip(
                chosen, losses.sum(dim=1).tolist(), mask.sum(dim=1).tolist(), strict=True
            ):
                sums[i], counts[i] = total, count
    return sums, counts


def _takes_logits_to_keep(model: Any) -> bool:
    """Whether the model's forward can skip the logits of positions no loss needs (Transformers'
    causal LMs take `logits_to_keep`; a model that does not gets its logits sliced instead)."""
    import inspect

    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _context(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", 2048) or 2048)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _vllm_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
