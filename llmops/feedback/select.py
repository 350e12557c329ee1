"""Which answers human feedback makes into training examples (pure; the rules are the interface).

Feedback rows are grouped by the response they are about. For one response:
1. A correction wins: the newest non-empty correction becomes the answer (`feedback: correction`),
   whatever the ratings said about the original answer.
2. Otherwise the model's own answer is kept when people liked it and nobody disliked it: at least
   one rating >= `min_rating` or thumbs up, and no rating below `min_rating` and no thumbs down
   (`feedback: rating` when a rating qualified it, else `thumbs-up`).
3. Everything else is left out (`negative` when someone disliked it, `no-signal` otherwise).
Examples without input text or answer are left out (`empty`). Several examples with the same
input (after the template is taken off and whitespace is folded) keep one: a correction over a
liked answer, then the newest. Every text is PII-redacted again on the way out, although the
gateway stored it redacted, so a store filled by an older or other writer cannot leak.
Examples come out ordered by their request's time, then id: the same store gives the same file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from llmops.pii.detect import redact

_RANK = {"correction": 2, "rating": 1, "thumbs-up": 0}


@dataclass(frozen=True)
class Example:
    response_id: str
    requested_at: float
    feedback_at: float  # newest feedback that decided it
    variables: dict[str, str]
    answer: str
    kind: str  # correction | rating | thumbs-up


@dataclass
class Selection:
    examples: list[Example] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def select(
    rows: list[dict[str, Any]], *, min_rating: int, variables_of: Any, variable_names: tuple[str, ...]
) -> Selection:
    """`rows`: one per feedback row joined with its request (response_id, requested_at,
    request_text, response_text, feedback_id, created_at, rating, thumbs, correction).
    `variables_of(text)` gives the prompt variables a request filled in, or None."""
    by_response: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_response[row["response_id"]].append(row)
    out = Selection()
    out.counts["feedback_rows"] = len(rows)
    out.counts["responses"] = len(by_response)
    candidates: list[Example] = []
    for response_id, group in by_response.items():
        group.sort(key=lambda r: (r["created_at"], r["feedback_id"]))
        decided = _decide(group, min_rating)
        if isinstance(decided, str):
            out.counts[decided] += 1
            continue
        kind, answer, at = decided
        request, found_in_request = redact(group[0]["request_text"] or "")
        answer, found_in_answer = redact(answer)
        request, answer = request.strip(), answer.strip()
        out.counts["redacted"] += sum((found_in_request + found_in_answer).values())
        if not request or not answer:
            out.counts["empty"] += 1
            continue
        found = variables_of(request)
        if found is None:
            found = {variable_names[0]: request}  # not the prompt's shape: the text is the input
        variables = {name: found.get(name, "") for name in variable_names}
        candidates.append(Example(response_id, group[0]["requested_at"], at, variables, answer, kind))
    best: dict[tuple[str, ...], Example] = {}
    for example in candidates:
        key = tuple(" ".join(example.variables[n].split()).casefold() for n in variable_names)
        kept = best.get(key)
        if kept is None or _better(example, kept):
            if kept is not None:
                out.counts["duplicate"] += 1
            best[key] = example
        else:
            out.counts["duplicate"] += 1
    out.examples = sorted(best.values(), key=lambda e: (e.requested_at, e.response_id))
    for example in out.examples:
        out.counts[f"selected_{example.kind}"] += 1
    out.counts["selected"] = len(out.examples)
    return out


def _decide(group: list[dict[str, Any]], min_rating: int) -> tuple[str, str, float] | str:
    corrections = [r for r in group if (r.get("correction") or "").strip()]
    if corrections:
        last = corrections[-1]
        return "correction", last["correction"], last["created_at"]
    ratings = [r for r in group if r.get("rating") is not None]
    thumbs = [r for r in group if r.get("thumbs") is not None]
    disliked = any(r["rating"] < min_rating for r in ratings) or any(r["thumbs"] < 0 for r in thumbs)
    if disliked:
        return "negative"
    liked = [r for r in ratings if r["rating"] >= min_rating] + [r for r in thumbs if r["thumbs"] > 0]
    if not liked:
        return "no-signal"
    kind = "rating" if any(r.get("rating") is not None for r in liked) else "thumbs-up"
    return kind, group[0]["response_text"] or "", max(r["created_at"] for r in liked)


def _better(new: Example, old: Example) -> bool:
    if _RANK[new.kind] != _RANK[old.kind]:
        return _RANK[new.kind] > _RANK[old.kind]
    return (new.feedback_at, new.response_id) > (old.feedback_at, old.response_id)
