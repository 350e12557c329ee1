"""The eval stage's retrieval half, for a suite whose Prompt has `retrieval`.

Rows are augmented with their passages once (the same `Augmenter` the prompt and tune stages
and the gateway use), so every model and baseline answers from the same passages. Retrieval
metrics (recall, hit_rate, mrr, context_relevance) do not depend on the model: they are scored
once here and reported under every model (so a gate reads `models.<label>.recall@5`) and in a
`retrieval` section of the metrics. The predictions file gets each row's passage ids and texts,
and the report a "Retrieval" section with the worst-retrieved questions and their passages.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.prompting.retrieval import augment_rows, open_augmenter, passage_ids
from llmops.runners.eval.rag_metrics import RETRIEVAL_METRICS, RagContext

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import EvalSuite, Metric
    from llmops.runners.eval.scoring import Score

WORST = 5
PREFERRED_PREFIXES = ("recall@", "mrr@", "hit_rate@", "context_relevance")


@dataclass
class Retrieval:
    """One suite's retrieval: the context the RAG metrics read, and its model-free scores."""

    rag: RagContext
    scores: list[Score] = field(default_factory=list)
    per_example: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def split_metrics(metrics: Sequence[Metric]) -> tuple[list[Metric], list[Metric]]:
    """(metrics scored once per suite, metrics scored per model)."""
    once = [m for m in metrics if m.name in RETRIEVAL_METRICS]
    return once, [m for m in metrics if m.name not in RETRIEVAL_METRICS]


def augment(
    template: Any, retrieval_index: str | None, rows: list[dict[str, Any]], root: Path, stage: str
) -> tuple[list[dict[str, Any]], Retrieval | None]:
    """The rows with their passages and the suite's retrieval context; rows as they are and None
    for a prompt without retrieval."""
    augmenter = open_augmenter(template.retrieval, retrieval_index, root, owner=stage)
    if augmenter is None:
        return rows, None
    started = time.perf_counter()
    rows = list(augment_rows(augmenter, rows))
    spec = template.retrieval
    variable = template.passages_variable
    rag = RagContext(
        passages=[list(row.get(variable) or []) for row in rows],
        queries=[str(row.get(spec.query, "")) for row in rows],
        rows=rows,
        top_k=int(spec.top_k),
        embed=_embedder(augmenter),
        index=str(spec.index),
    )
    return rows, Retrieval(rag, seconds=time.perf_counter() - started)


def _embedder(augmenter: Any) -> Any:
    """texts -> vectors through the index's own embedder, for context_relevance by embedding."""
    retriever = getattr(augmenter, "retriever", None)
    embedder = getattr(retriever, "embedder", None)
    if embedder is None:
        return None

    def embed(texts: list[str]) -> Any:
        return embedder.encode(texts, batch_size=64, normalize=True, progress=False)

    return embed


def score(
    retrieval: Retrieval, metrics: list[Metric], references: list[str], spec: EvalSuite, root: Path, seed: int
) -> None:
    """Score the model-free metrics once (the same seed, so the same resamples as the rest)."""
    from llmops.runners.eval.scoring import score_all

    if not metrics:
        return
    started = time.perf_counter()
    retrieval.scores, retrieval.per_example = score_all(
        metrics,
        list(references),  # unused by retrieval metrics; score_all wants one per example
        references,
        root=root,
        seed=seed,
        bootstrap=spec.bootstrap,
        rag=retrieval.rag,
    )
    retrieval.seconds += time.perf_counter() - started


def section(retrieval: Retrieval) -> dict[str, Any]:
    """The metrics file's `retrieval` section: model-free figures and how often nothing came back."""
    out: dict[str, Any] = {"index": retrieval.rag.index, "top_k": retrieval.rag.top_k}
    for s in retrieval.scores:
        out[s.key] = round(s.value, 6)
        if s.ci_low is not None:
            out[f"{s.key}_ci_low"] = round(s.ci_low, 6)
            out[f"{s.key}_ci_high"] = round(s.ci_high, 6)
    passages = retrieval.rag.passages
    out["n"] = len(passages)
    out["empty_retrievals"] = sum(not p for p in passages)
    out["passages_mean"] = round(sum(map(len, passages)) / len(passages), 3) if passages else 0
    out["retrieval_s"] = round(retrieval.seconds, 3)
    return out


def prediction_fields(retrieval: Retrieval | None, i: int) -> dict[str, Any]:
    """What a predictions.jsonl row adds for a RAG prompt: passage ids and their texts."""
    if retrieval is None:
        return {}
    chosen = retrieval.rag.passages[i]
    return {"passages": passage_ids(chosen), "contexts": [str(p.get("text", "")) for p in chosen]}


def report_lines(retrieval: Retrieval | None, cell: Any) -> list[str]:
    """The report's "Retrieval" section: figures, then the worst-retrieved questions."""
    if retrieval is None:
        return []
    rag = retrieval.rag
    lines = ["", "## Retrieval", ""]
    lines.append(
        f"Index `{rag.index}`, top {rag.top_k} passages per question; "
        f"{sum(not p for p in rag.passages)} of {len(rag.passages)} questions got none."
    )
    if retrieval.scores:
        lines += ["", "| figure | value |", "| --- | --- |"]
        for s in retrieval.scores:
            interval = "" if s.ci_low is None else f" [{s.ci_low:.4f}, {s.ci_high:.4f}]"
            lines.append(f"| {s.key} | {s.value:.4f}{interval} |")
    key = next((k for p in PREFERRED_PREFIXES for k in retrieval.per_example if k.startswith(p)), None)
    if key is None:
        return lines
    values = retrieval.per_example[key]
    order = sorted(range(len(values)), key=lambda i: (values[i], i))[:WORST]
    lines += [
        "",
        f"### Worst-retrieved questions by {key}",
        "",
        f"| # | {key} | question | passages |",
        "| --- | --- | --- | --- |",
    ]
    for i in order:
        shown = "; ".join(
            f"[{p.get('id')}] ({float(p.get('score') or 0):.3f}) {p.get('text', '')}" for p in rag.passages[i]
        )
        lines.append(
            f"| {i + 1} | {values[i]:.3f} | {cell(rag.queries[i])} | {cell(shown or '(none)', 400)} |"
        )
    return lines
