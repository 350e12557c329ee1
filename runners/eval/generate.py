"""Generation for evaluation: batched Transformers on CPU or GPU, vLLM on GPU runners.

Both engines get the same prompt strings and the same sampling settings, so at temperature 0
they should agree; the runner records which engine produced the predictions. Teacher-forced
log-likelihoods of the references (for perplexity) always come from Transformers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import UsageError


@dataclass(frozen=True)
class Generated:
    predictions: list[str]
    seconds: float
    engine: str


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


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """The prediction up to the first stop sequence (generation may run past it in a batch)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut].strip()


def generate_transformers(
    model: Any, tokenizer: Any, prompts: Sequence[str], generation: dict[str, Any], seed: int
) -> Generated:
    import torch
    from transformers import set_seed

    set_seed(seed)
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    device = next(model.parameters()).device
    sample = generation["temperature"] > 0
    settings: dict[str, Any] = {
        "max_new_tokens": generation["max_new_tokens"],
        "do_sample": sample,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if sample:
        settings.update(temperature=generation["temperature"], top_p=generation["top_p"])
    predictions: list[str] = []
    started = time.perf_counter()
    model.eval()
    with _progress(len(prompts), "generating") as advance, torch.inference_mode():
        for start in range(0, len(prompts), generation["batch_size"]):
            batch = list(prompts[start : start + generation["batch_size"]])
            encoded = tokenizer(batch, return_tensors="pt", padding=True).to(device)
            output = model.generate(**encoded, **settings)
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                predictions.append(cut_at_stop(text, generation.get("stop", [])))
            advance(len(batch))
    return Generated(predictions, time.perf_counter() - started, "transformers")


def vllm_settings(
    model_dir: str, revision: str | None, card: dict[str, Any] | None, generation: dict[str, Any], seed: int
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
        "max_tokens": generation["max_new_tokens"],
        "temperature": generation["temperature"],
        "top_p": generation["top_p"],
        "stop": list(generation.get("stop", [])) or None,
        "seed": seed,
    }
    return llm, sampling, adapter


def generate_vllm(
    model_dir: str,
    revision: str | None,
    card: dict[str, Any] | None,
    prompts: Sequence[str],
    generation: dict[str, Any],
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
    predictions = [cut_at_stop(o.outputs[0].text, generation.get("stop", [])) for o in outputs]
    return Generated(predictions, time.perf_counter() - started, "vllm")


def reference_nll(
    model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str], batch_size: int
) -> tuple[list[float], list[int]]:
    """Per example: summed negative log-likelihood of the completion given the prompt, and its
    token count (the completion's tokens plus end of sequence, as the tune stage trains them)."""
    import torch

    from llmops.runners.tune.examples import Example
    from llmops.runners.tune.tokenize import PadCollator, encode

    rows = encode(
        [Example(p, c) for p, c in zip(prompts, completions, strict=True)],
        tokenizer,
        max_length=_context(model),
        completion_only=True,
        packing=False,
    ).rows
    collate = PadCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    sums: list[float] = []
    counts: list[int] = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in collate(rows[start : start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = batch["labels"][:, 1:]
            logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            mask = targets != -100
            picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            sums.extend((-(picked * mask).sum(dim=1)).tolist())
            counts.extend(mask.sum(dim=1).tolist())
    return sums, counts


def _context(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", 2048) or 2048)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _vllm_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class _progress:
    """A progress bar with an ETA on a terminal; one line per quarter in CI logs."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.started = time.perf_counter()
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        return self.advance

    def advance(self, n: int) -> None:
        before, self.done = self.done, self.done + n
        if self.bar is not None:
            self.bar.update(self.task, advance=n)
            return
        if self.total and (before * 4 // self.total) != (self.done * 4 // self.total):
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            print(f"{self.label}: {self.done}/{self.total}, ETA {eta:.0f}s", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
