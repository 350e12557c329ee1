"""Preference data from human feedback: chosen/rejected pairs and good/bad labels (pure rules).

TRL's preference trainers read two shapes: pairs (`prompt`, `chosen`, `rejected`: DPO, ORPO,
SimPO) and unpaired labels (`prompt`, `completion`, `label`: KTO). The rows here carry the
deployed Prompt's variables (e.g. `text`) instead of a rendered `prompt`, like the supervised
export, so the tune stage renders them with the FineTune's own Prompt, as it does for SFT.

Every feedback row is scored once: a rating r counts r, a thumbs up 5, a thumbs down 1.
Pairs (`pair_source`):
- `correction`: a person's correction is chosen over the answer the deployment served (the newest
  correction of a response; none when it says the same as the served answer);
- `rated`: two different answers to the same input (after the template is taken off and
  whitespace and case are folded) whose mean scores differ: the higher one is chosen. At most
  `MAX_PAIRS_PER_INPUT` per input, largest score gaps first, among its newest
  `MAX_RESPONSES_PER_INPUT` rated answers, so one popular (or scripted) question cannot flood the
  data or the run time.
Unpaired labels: a response liked (a rating >= `min_rating` or a thumbs up) and not disliked
(no rating <= `BAD_RATING`, no thumbs down) is `true`; disliked and not liked is `false`; both
is left out (`conflicting`). A correction makes the served answer `false` whatever the ratings
said, and adds the correction as `true`.
The same row twice keeps the first; a pair and its reverse, or a completion labeled both ways for
the same input, are dropped (`conflicting`). Texts are PII-redacted again and bounded by
`MAX_TEXT_CHARS` (longer ones are left out, `too_long`): feedback is untrusted input. Rows come
out ordered by their (first) request's time, then ids: the same store gives the same bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from llmops.pii.detect import redact

BAD_RATING = 2  # a rating at or below this says the answer was bad
THUMBS_UP_SCORE, THUMBS_DOWN_SCORE = 5, 1
MAX_PAIRS_PER_INPUT = 16
MAX_RESPONSES_PER_INPUT = 64  # rated answers compared per input (the newest), bounding the work
MAX_TEXT_CHARS = 100_000
RESERVED = frozenset(
    {"chosen", "rejected", "pair_source", "response_ids", "feedback_ids"}
    | {"completion", "label", "response_id", "feedback_id"}
)


@dataclass(frozen=True)
class Response:
    """One served answer and what people said about it (texts redacted and stripped)."""

    response_id: str
    requested_at: float
    variables: dict[str, str]
    key: tuple[str, ...]
    answer: str
    scores: tuple[tuple[int, str], ...]  # (score, feedback_id) in feedback order
    liked: str | None  # feedback id of the newest "good" signal
    disliked: str | None  # feedback id of the newest "bad" signal
    correction: tuple[str, str] | None  # (text, feedback_id) of the newest correction

    @property
    def score(self) -> float | None:
        return sum(s for s, _ in self.scores) / len(self.scores) if self.scores else None


@dataclass
class Preferences:
    pairs: list[dict[str, Any]] = field(default_factory=list)
    unpaired: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def preferences(
    rows: list[dict[str, Any]],
    *,
    min_rating: int,
    variables_of: Callable[[str], dict[str, str] | None],
    variable_names: tuple[str, ...],
) -> Preferences:
    """`rows` as `export.read_rows` gives them (one per feedback row joined with its request)."""
    clash = sorted(RESERVED.intersection(variable_names))
    if clash:
        from llmops.errors import UsageError

        raise UsageError(
            f"the deployed Prompt's variable(s) {', '.join(clash)} clash with the preference columns; "
            "rename the variable(s) in the Prompt spec"
        )
    out = Preferences()
    responses = _responses(rows, min_rating, variables_of, variable_names, out.counts)
    ordered: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for r in responses:
        if r.correction is not None:
            text, fid = r.correction
            if _fold(text) != _fold(r.answer):
                row = _pair(r.variables, text, r.answer, "correction", [r.response_id], [fid])
                ordered.append(((r.requested_at, r.response_id), row))
    by_input: dict[tuple[str, ...], list[Response]] = defaultdict(list)
    for r in responses:
        if r.score is not None:
            by_input[r.key].append(r)
    for group in by_input.values():
        if len(group) > MAX_RESPONSES_PER_INPUT:  # the newest: pairs grow with the square
            out.counts["rated_responses_capped"] += len(group) - MAX_RESPONSES_PER_INPUT
            group = group[-MAX_RESPONSES_PER_INPUT:]
        candidates = []
        for a, b in combinations(group, 2):
            assert a.score is not None and b.score is not None
            if a.score == b.score or _fold(a.answer) == _fold(b.answer):
                continue
            hi, lo = (a, b) if a.score > b.score else (b, a)
            candidates.append(
                (-(hi.score - lo.score), hi.requested_at, hi.response_id, lo.response_id, hi, lo)
            )
        candidates.sort(key=lambda c: c[:4])
        out.counts["rated_pairs_capped"] += max(0, len(candidates) - MAX_PAIRS_PER_INPUT)
        for *_, hi, lo in candidates[:MAX_PAIRS_PER_INPUT]:
            ids = [hi.response_id, lo.response_id]
            fids = [f for _, f in hi.scores] + [f for _, f in lo.scores]
            first = min(hi, lo, key=lambda r: (r.requested_at, r.response_id))
            row = _pair(hi.variables, hi.answer, lo.answer, "rated", ids, fids)
            ordered.append(((first.requested_at, *sorted(ids)), row))
    out.pairs = _unique(ordered, ("chosen", "rejected"), out.counts)
    labeled: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for r in responses:
        order = (r.requested_at, r.response_id)
        if r.correction is not None:
            text, fid = r.correction
            labeled.append(((*order, 0), _label(r, r.answer, False, fid)))
            labeled.append(((*order, 1), _label(r, text, True, fid)))
        elif r.liked and r.disliked:
            out.counts["conflicting_labels"] += 1
        elif r.liked or r.disliked:
            labeled.append(((*order, 0), _label(r, r.answer, bool(r.liked), r.liked or r.disliked or "")))
    out.unpaired = _unique(labeled, ("completion", "label"), out.counts)
    out.counts["pairs"] = len(out.pairs)
    out.counts["pairs_correction"] = sum(1 for p in out.pairs if p["pair_source"] == "correction")
    out.counts["pairs_rated"] = len(out.pairs) - out.counts["pairs_correction"]
    out.counts["unpaired"] = len(out.unpaired)
    out.counts["unpaired_good"] = sum(1 for u in out.unpaired if u["label"])
    out.counts["unpaired_bad"] = len(out.unpaired) - out.counts["unpaired_good"]
    return out


def _responses(
    rows: list[dict[str, Any]],
    min_rating: int,
    variables_of: Callable[[str], dict[str, str] | None],
    names: tuple[str, ...],
    counts: Counter[str],
) -> list[Response]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["response_id"]].append(row)
    out = []
    for response_id, group in grouped.items():
        group.sort(key=lambda r: (r["created_at"], r["feedback_id"]))
        request, answer = _clean(group[0]["request_text"], counts), _clean(group[0]["response_text"], counts)
        if request is None or answer is None:
            counts["too_long"] += 1
            continue
        if not request or not answer:
            counts["empty"] += 1
            continue
        found = variables_of(request) or {names[0]: request}
        variables = {name: found.get(name, "") for name in names}
        scores: list[tuple[int, str]] = []
        liked = disliked = None
        correction = None
        for r in group:
            fid = str(r["feedback_id"])
            if r.get("rating") is not None:
                scores.append((int(r["rating"]), fid))
                liked = fid if r["rating"] >= min_rating else liked
                disliked = fid if r["rating"] <= BAD_RATING else disliked
            if r.get("thumbs") is not None and r["thumbs"] != 0:
                up = r["thumbs"] > 0
                scores.append((THUMBS_UP_SCORE if up else THUMBS_DOWN_SCORE, fid))
                liked, disliked = (fid, disliked) if up else (liked, fid)
            text = _clean(r.get("correction"), counts)
            if text:
                correction = (text, fid)
        key = tuple(_fold(variables[n]) for n in names)
        at = group[0]["requested_at"]
        out.append(
            Response(response_id, at, variables, key, answer, tuple(scores), liked, disliked, correction)
        )
    out.sort(key=lambda r: (r.requested_at, r.response_id))
    return out


def _clean(text: str | None, counts: Counter[str]) -> str | None:
    """Redacted and stripped; None when over the size budget."""
    if text is None:
        return ""
    if len(text) > MAX_TEXT_CHARS:
        return None
    cleaned, found = redact(text)
    counts["redacted"] += sum(found.values())
    return cleaned.strip()


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _pair(
    variables: dict[str, str], chosen: str, rejected: str, source: str, ids: list[str], fids: list[str]
) -> dict[str, Any]:
    return {
        **variables,
        "chosen": chosen,
        "rejected": rejected,
        "pair_source": source,
        "response_ids": ids,
        "feedback_ids": fids,
    }


def _label(r: Response, completion: str, good: bool, fid: str) -> dict[str, Any]:
    return {
        **r.variables,
        "completion": completion,
        "label": good,
        "response_id": r.response_id,
        "feedback_id": fid,
    }


def _unique(
    ordered: list[tuple[tuple[Any, ...], dict[str, Any]]], columns: tuple[str, str], counts: Counter[str]
) -> list[dict[str, Any]]:
    """First of each identical row; both of a contradiction (a pair and its reverse, or a completion
    labeled true and false for the same input) are dropped."""
    ordered.sort(key=lambda item: item[0])
    seen: dict[tuple[Any, ...], int] = {}
    kept: list[dict[str, Any] | None] = []
    variables = [k for k in (ordered[0][1] if ordered else {}) if k not in RESERVED]
    a, b = columns
    for _, row in ordered:
        base = tuple(_fold(row[v]) for v in variables)
        this = (*base, _fold(row[a]), row[b] if isinstance(row[b], bool) else _fold(row[b]))
        if isinstance(row[b], bool):
            other = (*base, this[-2], not row[b])
        else:
            other = (*base, _fold(row[b]), _fold(row[a]))
        if this in seen:
            counts["duplicate"] += 1
            continue
        if other in seen:
            counts["conflicting"] += 2
            kept[seen[other]] = None
            seen[this] = seen[other]
            continue
        seen[this] = len(kept)
        kept.append(row)
    return [row for row in kept if row is not None]
