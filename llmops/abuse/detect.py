"""Screening one prompt: which abuse flags it raises.

Flags come from a closed vocabulary (`FLAGS`) so they can be stored, counted in Prometheus and
gated on without ever carrying the client's text. The pattern screen always runs (microseconds);
a classifier (`llmops.abuse.classifier`) adds its verdict when a Deployment configures one.
Only the first `max_chars` characters and the last `max_chars` are read: an attacker gains
nothing by padding a prompt to make the screen slow, and the text in the middle of a huge
prompt is rarely what the model acts on last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from llmops.abuse.patterns import INJECTION, JAILBREAK, PATTERNS, Pattern, normalise

PII = "pii"
RATE_LIMITED = "rate_limited"
RATE_ANOMALY = "rate_anomaly"
FLAGS: tuple[str, ...] = (INJECTION, JAILBREAK, PII, RATE_LIMITED, RATE_ANOMALY)
BLOCKING = frozenset({INJECTION, JAILBREAK})  # what `serving.abuse.block` refuses

# A classifier: texts in, one (category or None) per text out.
Classify = Callable[[list[str]], list[str | None]]


@dataclass(frozen=True)
class Finding:
    category: str
    technique: str


def scan_window(text: str, max_chars: int) -> str:
    """The part of `text` the screen reads: all of it, or its head and tail."""
    if len(text) <= 2 * max_chars:
        return text
    return text[:max_chars] + "\n" + text[-max_chars:]


def findings(text: str, max_chars: int = 20_000, patterns: Iterable[Pattern] = PATTERNS) -> list[Finding]:
    """Every (category, technique) the patterns see in `text`, in pattern order, without repeats."""
    normal = normalise(scan_window(text, max_chars))
    seen: list[Finding] = []
    for pattern in patterns:
        if pattern.regex.search(normal):
            found = Finding(pattern.category, pattern.technique)
            if found not in seen:
                seen.append(found)
    return seen


def categories(text: str, max_chars: int = 20_000) -> set[str]:
    """The abuse categories (`prompt_injection`, `jailbreak`) the patterns see in `text`."""
    return {f.category for f in findings(text, max_chars)}


@dataclass
class Screen:
    """The gateway's screen: patterns, plus a classifier when one is configured."""

    max_chars: int = 20_000
    classify: Classify | None = None
    enabled: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    def patterns(self, text: str) -> set[str]:
        return categories(text, self.max_chars) if self.enabled and text else set()

    def classifier(self, text: str) -> set[str]:
        if not (self.enabled and text and self.classify):
            return set()
        verdict = self.classify([scan_window(text, self.max_chars)])[0]
        return {verdict} if verdict else set()


def ordered(flags: Iterable[str]) -> list[str]:
    """Flags in `FLAGS` order, unknown ones dropped: the stored list is deterministic and closed."""
    present = set(flags)
    return [f for f in FLAGS if f in present]
