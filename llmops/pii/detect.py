"""Find and redact personal data and secrets in free text: email, phone, card, ip, iban, secret,
and (opt-in, named in `kinds`) US social security numbers.

Shared by the data stage (the `pii-redact` cleaning step and the `max_pii` expectation), the
serving gateway, the feedback export and the model review, so it lives outside every runner and
depends on nothing but the standard library. The patterns and their validators live in `patterns`.

Every match is replaced by a typed placeholder (`[EMAIL]`, `[CARD]`, ...) rather than deleted, so
a model trained on redacted text still sees that something was there and a reviewer can tell
what. For `key=value` secrets only the value goes, so the reader still sees which credential
leaked. Placeholders never match a pattern, so redacting twice changes nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmops.pii.patterns import DETECTORS, Detector, has_digit, iban_ok, luhn_ok
from llmops.pii.text import glued

__all__ = [
    "ALL_KINDS",
    "KINDS",
    "PLACEHOLDERS",
    "PiiMatch",
    "count_pii",
    "find_pii",
    "iban_ok",
    "luhn_ok",
    "redact",
    "redact_records",
]

# The default kinds. `ssn` is opt-in: a 3-2-4 number is an SSN only in US data, so a caller
# names it (the `pii-redact` step's `kinds`) when its data holds them.
KINDS: tuple[str, ...] = ("email", "phone", "card", "ip", "iban", "secret")
ALL_KINDS: tuple[str, ...] = (*KINDS, "ssn")
PLACEHOLDERS: dict[str, str] = {kind: f"[{kind.upper()}]" for kind in ALL_KINDS}

# When two matches overlap the more specific kind wins: a card number is also a run of digits a
# phone pattern could take, a secret value may look like an email. Ties go to the longer match.
_PRIORITY = {"secret": 7, "card": 6, "ssn": 5, "iban": 4, "email": 3, "ip": 2, "phone": 1}

# Redacting again after a change is a safety net for idempotency: a placeholder is not a word
# character, so removing a match can expose a neighbour its boundaries had hidden.
_MAX_PASSES = 4


@dataclass(frozen=True)
class PiiMatch:
    """One detected span: `source[start:end] == text` for the string `source` it was found in."""

    kind: str
    start: int
    end: int
    text: str


@lru_cache(maxsize=64)
def _plan(kinds: frozenset[str]) -> tuple[Detector, ...]:
    unknown = kinds - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s) {sorted(unknown)}; known: {', '.join(ALL_KINDS)}")
    return tuple(detector for detector in DETECTORS if detector.kind in kinds)


def _detectors(kinds: Iterable[str]) -> tuple[Detector, ...]:
    """The detectors for `kinds`, checked once per distinct set: a misspelt kind is an error,
    not a silent pass that redacts nothing."""
    return _plan(kinds if isinstance(kinds, frozenset) else frozenset(kinds))


def find_pii(text: str, kinds: Iterable[str] = KINDS) -> list[PiiMatch]:
    """Non-overlapping matches sorted by start; overlaps go to the more specific, then longer, one."""
    return _find(text, _detectors(kinds))


def _find(text: str, detectors: tuple[Detector, ...]) -> list[PiiMatch]:
    candidates: list[tuple[int, int, int, str]] = []
    digits = None  # several detectors need a digit: test once
    for detector in detectors:
        kind = detector.kind
        if detector.needs is has_digit:
            if digits is None:
                digits = has_digit(text) is not None
            if not digits:
                continue
        elif not detector.needs(text):
            continue
        for match in detector.pattern.finditer(text):
            span = detector.check(match)
            if span is not None and span[1] > span[0]:
                candidates.append((_PRIORITY[kind], span[0], span[1], kind))
    if not candidates:
        return []
    candidates.sort(key=lambda c: (-c[0], c[1] - c[2], c[1]))
    starts: list[int] = []
    kept: list[tuple[int, int, str]] = []
    for _, start, end, kind in candidates:
        at = bisect_left(starts, start)
        if at and kept[at - 1][1] > start:
            continue  # overlaps the kept span before it
        if at < len(kept) and kept[at][0] < end:
            continue  # overlaps the kept span after it
        starts.insert(at, start)
        kept.insert(at, (start, end, kind))
    _repeats(text, kept, starts)
    return [PiiMatch(kind, start, end, text[start:end]) for start, end, kind in kept]


def _repeats(text: str, kept: list[tuple[int, int, str]], starts: list[int]) -> None:
    """Add every other delimited occurrence of a value already found, in place.

    A pattern sees context: the same phone number right after another number, or a password
    repeated without its `password=`, is not matched there. Once a text shows a value is PII,
    each occurrence of it goes. Short values and plain words (`password=letmein`) stay, as they
    may also be ordinary words elsewhere in the text.
    """
    values = {
        value: kind for start, end, kind in kept if len(value := text[start:end]) >= 6 and not value.isalpha()
    }
    for value, kind in values.items():
        at = text.find(value)
        while at != -1:
            end = at + len(value)
            delimited = not (at and glued(text[at - 1])) and not (end < len(text) and glued(text[end]))
            index = bisect_left(starts, at)
            before_ok = not (index and kept[index - 1][1] > at)
            if delimited and before_ok and not (index < len(kept) and kept[index][0] < end):
                starts.insert(index, at)
                kept.insert(index, (at, end, kind))
            at = text.find(value, at + 1)


def _redact_once(text: str, detectors: tuple[Detector, ...]) -> tuple[str, Counter[str]]:
    matches = _find(text, detectors)
    if not matches:
        return text, Counter()
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(PLACEHOLDERS[match.kind])
        position = match.end
    parts.append(text[position:])
    return "".join(parts), Counter(match.kind for match in matches)


def _redact(text: str, detectors: tuple[Detector, ...]) -> tuple[str, Counter[str]]:
    counts: Counter[str] = Counter()
    for _ in range(_MAX_PASSES):
        text, found = _redact_once(text, detectors)
        if not found:
            break
        counts += found
    return text, counts


def redact(text: str, kinds: Iterable[str] = KINDS) -> tuple[str, Counter[str]]:
    """`text` with every match replaced by its placeholder, and how many of each kind were found.

    Idempotent: `redact(redact(t)[0])` returns the same text and an empty counter.
    """
    return _redact(text, _detectors(kinds))


def count_pii(text: str, kinds: Iterable[str] = KINDS) -> Counter[str]:
    """How many matches of each kind `text` holds (what the `max_pii` expectation counts)."""
    return Counter(match.kind for match in _find(text, _detectors(kinds)))


def redact_records(
    rows: Iterable[dict[str, Any]], columns: list[str], kinds: Iterable[str], count: Any
) -> Iterator[dict[str, Any]]:
    """Stream `rows` with their text redacted; a changed record is a new dict, the input is untouched.

    `columns` names the columns to redact; empty means every column whose name does not start
    with `_` (those are the runner's own bookkeeping, such as `_source`). Strings inside lists and
    dicts are redacted too, so chat-format rows (`messages: [{"role", "content"}]`) are covered;
    numbers and other values are left as they are. `count` is duck-typed (the data stage passes its
    StepCount): `count.changed` goes up once per changed record, `count.found` adds the kinds.
    """
    detectors = _detectors(kinds)
    for record in rows:
        names = columns or [name for name in record if not name.startswith("_")]
        changes: dict[str, Any] = {}
        found: Counter[str] = Counter()
        for name in names:
            if name not in record:
                continue
            value, kinds_found = _redact_value(record[name], detectors)
            if kinds_found:
                changes[name] = value
                found += kinds_found
        if changes:
            count.changed += 1
            count.found.update(found)
            yield {**record, **changes}
        else:
            yield record


def _redact_value(value: Any, detectors: tuple[Detector, ...]) -> tuple[Any, Counter[str]]:
    if isinstance(value, str):
        return _redact(value, detectors)
    found: Counter[str] = Counter()
    if isinstance(value, list):
        items = []
        for item in value:
            new, kinds = _redact_value(item, detectors)
            items.append(new)
            found += kinds
        return (items if found else value), found
    if isinstance(value, dict):
        fields = {}
        for key, item in value.items():
            fields[key], kinds = _redact_value(item, detectors)
            found += kinds
        return (fields if found else value), found
    return value, found
