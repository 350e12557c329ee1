"""Batched generation with Transformers, the engine every machine has (CPU or GPU).

The eval stage scores what it generates and the review stage probes a tuned model with it, so
both read the same predictions off the same settings: left padding, greedy at temperature 0,
cut at the first stop sequence. torch and transformers are imported inside the function, so
importing this module stays cheap.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import Generation


@dataclass(frozen=True)
class Generated:
    predictions: list[str]
    seconds: float
    engine: str


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
    model: Any, tokenizer: Any, prompts: Sequence[str], generation: Generation, seed: int
) -> Generated:
    import torch
    from transformers import set_seed

    set_seed(seed)
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    device = next(model.parameters()).device
    sample = generation.temperature > 0
    settings: dict[str, Any] = {
        "max_new_tokens": generation.max_new_tokens,
        "do_sample": sample,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if sample:
        settings.update(temperature=generation.temperature, top_p=generation.top_p)
    predictions: list[str] = []
    started = time.perf_counter()
    model.eval()
    with _progress(len(prompts), "generating") as advance, torch.inference_mode():
        for start in range(0, len(prompts), generation.batch_size):
            batch = list(prompts[start : start + generation.batch_size])
            encoded = tokenizer(batch, return_tensors="pt", padding=True).to(device)
            output = model.generate(**encoded, **settings)
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                predictions.append(cut_at_stop(text, generation.stop))
            advance(len(batch))
    return Generated(predictions, time.perf_counter() - started, "transformers")


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
