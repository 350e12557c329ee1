"""Metrics of a retrieval-augmented prompt: how well retrieval found the evidence, and how much of
an answer the retrieved passages support.

Retrieval metrics do not depend on the model, so the eval runner computes them once per suite
and reports them under every model (`models.<label>.recall@5` stays readable by gates):

* `recall` (args `k`, and `gold_column` or `gold: answer`) -> `recall@k`: per question, the share
  of its gold ids found among the first k passages. A gold id matches a passage's `id` (a chunk,
  `<doc_id>#<n>`) or its `doc_id` (any chunk of that document). The gold column holds a list or a
  string of ids separated by `|` or `,`. With `gold: answer` there is no list of relevant
  passages to count, so recall is whether one of the first k passages holds the answer (the same
  as hit_rate): a passage holds it when it contains the normalised reference, or when at least
  `min_overlap` (default 0.5) of the reference's content words are in it.
* `hit_rate` -> `hit_rate@k`: 1 when any of the first k passages is relevant.
* `mrr` -> `mrr@k`: 1 / the rank of the first relevant passage among the first k, else 0.
* `context_relevance`: the share of the question's content words found in the passages; with
  `method: embedding`, the mean cosine of the question's and the passages' embeddings through the
  index's own embedder.

`faithfulness` depends on the answer: the share of the answer's content words (lowercased words
minus a stop-word list) found in the retrieved passages; with `method: judge`, an
OpenAI-compatible model grades it against a fixed rubric (`judge.py`).

Every metric is per-example and higher is better; `scoring.py` turns the columns into means with
bootstrap intervals like every other metric. Nothing here imports torch: the embedder, when
needed, comes in as a callable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmops.compiler.kinds.evalsuite import RAG_ARGUMENTS
from llmops.errors import StageFailed

RETRIEVAL_METRICS = ("recall", "hit_rate", "mrr", "context_relevance")  # model-independent
ARGUMENTS = RAG_ARGUMENTS  # defined with the spec model, so validate refuses what this refuses
DEFAULT_MIN_OVERLAP = 0.5

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    """.split()  # noqa: SIM905 (a word list reads better as words)
)
_WORD = re.compile(r"\w+", re.UNICODE)


class RagMetricError(StageFailed):
    """A RAG metric that cannot be computed: bad arguments, no gold ids, no retrieval."""


Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class RagContext:
    """What the RAG metrics read besides predictions and references, one entry per example.

    `passages` are the passage dicts the prompt was rendered with, in rank order; `queries` the
    query variable's values; `rows` the dataset rows (for a gold column); `top_k` the prompt's
    retrieval.top_k; `embed` the index's embedder (texts -> normalised vectors), for
    `context_relevance` with `method: embedding`.
    """

    passages: list[list[dict[str, Any]]]
    queries: list[str]
    rows: list[dict[str, Any]]
    top_k: int
    embed: Embed | None = None
    index: str = ""


def content_words(text: str) -> list[str]:
    """Lowercased words minus stop words: what a claim or a question is about."""
    return [w for w in _WORD.findall(str(text).lower()) if w not in STOP_WORDS]


def normalized(text: str) -> str:
    """Lowercase, words only, single spaces: for 'the passage contains the answer'."""
    return " ".join(_WORD.findall(str(text).lower()))


def gold_ids(value: Any) -> list[str]:
    """A gold cell as ids: a list, or a string separated by `|` (else by `,`)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value if v is not None]
    else:
        text = str(value)
        items = text.split("|") if "|" in text else text.split(",")
    return [item.strip() for item in items if item.strip()]


def figure_key(name: str, args: dict[str, Any], top_k: int) -> str:
    """`recall@5`: the name of a ranked metric's figure."""
    return f"{name}@{_k(name, args, top_k)}"


def compute(
    name: str, args: dict[str, Any], predictions: Sequence[str], references: Sequence[str], rag: RagContext
) -> tuple[dict[str, list[float]], str]:
    """Per-example columns keyed by figure, and the source recorded with them."""
    unknown = sorted(set(args) - ARGUMENTS[name])
    if unknown:
        takes = ", ".join(sorted(ARGUMENTS[name]))
        raise RagMetricError(f"metric {name} has no argument {', '.join(unknown)} (it takes: {takes})")
    n = len(references)
    if len(rag.passages) != n or len(rag.queries) != n:
        raise RagMetricError(f"metric {name}: {len(rag.passages)} retrievals for {n} examples")
    if name in ("recall", "hit_rate", "mrr"):
        return {figure_key(name, args, rag.top_k): _ranked(name, args, references, rag)}, f"llmops:{name}"
    if name == "context_relevance":
        return _context_relevance(args, rag)
    return _faithfulness(args, predictions, rag)


# --- ranked retrieval metrics ----------------------------------------------------------------


def _k(name: str, args: dict[str, Any], top_k: int) -> int:
    k = args.get("k", top_k)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RagMetricError(f"metric {name}: k must be a whole number of at least 1, not {k!r}")
    if k > top_k:
        raise RagMetricError(
            f"metric {name}: k={k} is more than the {top_k} passages the prompt retrieves; "
            f"lower k or raise the prompt's retrieval.top_k"
        )
    return k


def _ranked(name: str, args: dict[str, Any], references: Sequence[str], rag: RagContext) -> list[float]:
    k = _k(name, args, rag.top_k)
    relevance = _relevance(name, args, references, rag, k)
    column = []
    for flags, wanted in relevance:
        if name == "hit_rate" or (name == "recall" and wanted is None):
            column.append(1.0 if any(flags) else 0.0)
        elif name == "recall":
            column.append(len(set().union(*flags)) / len(wanted) if wanted else 0.0)
        else:  # mrr
            rank = next((i for i, hit in enumerate(flags) if hit), None)
            column.append(0.0 if rank is None else 1.0 / (rank + 1))
    return column


def _relevance(
    name: str, args: dict[str, Any], references: Sequence[str], rag: RagContext, k: int
) -> list[tuple[list[set[str]], set[str] | None]]:
    """Per example: for each of the first k passages the gold ids it matches (a non-empty set when
    it is relevant), and the gold ids (None when relevance comes from the answer)."""
    column, by_answer = args.get("gold_column"), args.get("gold")
    if (column is None) == (by_answer is None):
        raise RagMetricError(
            f"metric {name} needs exactly one of gold_column (the dataset column of relevant ids) "
            "or gold: answer (a passage holding the reference answer is relevant)"
        )
    if by_answer is not None and by_answer != "answer":
        raise RagMetricError(f"metric {name}: gold must be 'answer', not {by_answer!r}")
    out: list[tuple[list[set[str]], set[str] | None]] = []
    if by_answer == "answer":
        overlap = float(args.get("min_overlap", DEFAULT_MIN_OVERLAP))
        if not 0 < overlap <= 1:
            raise RagMetricError(f"metric {name}: min_overlap must be above 0 and at most 1, not {overlap}")
        for reference, passages in zip(references, rag.passages, strict=True):
            flags = [{"answer"} if _holds(p, reference, overlap) else set() for p in passages[:k]]
            out.append((flags, None))
        return out
    missing = []
    for i, (row, passages) in enumerate(zip(rag.rows, rag.passages, strict=True)):
        wanted = set(gold_ids(row.get(str(column))))
        if not wanted:
            missing.append(i + 1)
        flags = [{g for g in wanted if g in (str(p.get("id")), str(p.get("doc_id")))} for p in passages[:k]]
        out.append((flags, wanted))
    if missing:
        raise RagMetricError(
            f"metric {name}: rows {missing[:5]}{' ...' if len(missing) > 5 else ''} have no gold ids in "
            f"column '{column}'; give every evaluated row its relevant document or chunk ids, or use "
            "gold: answer"
        )
    return out


def _holds(passage: dict[str, Any], reference: str, min_overlap: float) -> bool:
    text = normalized(passage.get("text", ""))
    answer = normalized(reference)
    if answer and f" {answer} " in f" {text} ":
        return True
    words = set(content_words(reference))
    if not words:
        return False
    found = set(content_words(passage.get("text", "")))
    return len(words & found) / len(words) >= min_overlap


# --- context relevance and faithfulness ------------------------------------------------------


def _passages_of(rag: RagContext, args: dict[str, Any], name: str) -> list[list[dict[str, Any]]]:
    k = _k(name, args, rag.top_k)
    return [p[:k] for p in rag.passages]


def _covered(text: str, passages: list[dict[str, Any]]) -> float:
    """Share of `text`'s content words (with repeats) found in the passages; 0 with none."""
    words = content_words(text)
    if not words:
        return 0.0
    found = {w for p in passages for w in content_words(p.get("text", ""))}
    return sum(w in found for w in words) / len(words)


def _context_relevance(args: dict[str, Any], rag: RagContext) -> tuple[dict[str, list[float]], str]:
    method = args.get("method", "overlap")
    chosen = _passages_of(rag, args, "context_relevance")
    if method == "overlap":
        column = [_covered(q, p) for q, p in zip(rag.queries, chosen, strict=True)]
        return {"context_relevance": column}, "llmops:context_relevance"
    if method != "embedding":
        raise RagMetricError(f"metric context_relevance: method must be overlap or embedding, not {method!r}")
    if rag.embed is None:
        raise RagMetricError("metric context_relevance with method: embedding needs the index's embedder")
    texts = [str(p.get("text", "")) for passages in chosen for p in passages]
    queries = _unit(rag.embed(list(rag.queries)))
    vectors = _unit(rag.embed(texts)) if texts else np.zeros((0, queries.shape[1]))
    column, start = [], 0
    for i, passages in enumerate(chosen):
        block = vectors[start : start + len(passages)]
        start += len(passages)
        column.append(float(np.clip(block @ queries[i], -1.0, 1.0).mean()) if len(passages) else 0.0)
    return {"context_relevance": column}, "llmops:context_relevance(embedding)"


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _faithfulness(
    args: dict[str, Any], predictions: Sequence[str], rag: RagContext
) -> tuple[dict[str, list[float]], str]:
    method = args.get("method", "overlap")
    chosen = _passages_of(rag, args, "faithfulness")
    if len(predictions) != len(chosen):
        raise RagMetricError(f"metric faithfulness: {len(predictions)} answers for {len(chosen)} retrievals")
    if method == "overlap":
        column = [_covered(a, p) for a, p in zip(predictions, chosen, strict=True)]
        return {"faithfulness": column}, "llmops:faithfulness"
    if method != "judge":
        raise RagMetricError(f"metric faithfulness: method must be overlap or judge, not {method!r}")
    from llmops.runners.eval.judge import judge_faithfulness

    column, source = judge_faithfulness(args, list(rag.queries), list(predictions), chosen)
    return {"faithfulness": column}, source
