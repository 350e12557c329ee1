"""What a gate reads and what it writes: results files (loaded once each, a missing or broken
one turned into a message) and one result record per rule and model.

Each result is `{rule, index, type, model, metric, observed, limit, passed, message}`; `index`
is the rule's place in the Policy's `rules`, so `llmops gate --annotations` can point at its
line. A rule whose inputs are missing fails with a message that names what is missing and where
it was looked for: a gate never passes on data it did not see.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.compiler.catalog import stage_name
from llmops.compiler.kinds.policy import RuleBase

# Where results come from: a results file's bytes by its project-relative path, None when it
# does not exist (the stage reads the workspace, `llmops enforce` a commit's tree).
Reader = Callable[[str], bytes | None]
# Floats read back from JSON: a figure equal to its limit up to rounding passes.
EPSILON = 1e-9


def disk_reader(root: Path) -> Reader:
    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    return read


class Results:
    """The metrics files a gate reads, loaded once each."""

    def __init__(self, files: Sequence[str], policy: str, read: Reader) -> None:
        self.files = list(files)
        self.policy = policy
        self._read_bytes = read
        self._cache: dict[str, tuple[dict[str, Any] | None, str]] = {}

    def suite_file(self, suite: str) -> str | None:
        return self._named(f"{stage_name('eval', suite)}.json")

    def review_file(self) -> str | None:
        return self._named(f"{stage_name('review', self.policy)}.json")

    def _named(self, basename: str) -> str | None:
        return next((f for f in self.files if Path(f).name == basename), None)

    def load(self, rel: str) -> tuple[dict[str, Any] | None, str]:
        """(document, "") or (None, why it could not be read)."""
        if rel not in self._cache:
            self._cache[rel] = self._read(rel)
        return self._cache[rel]

    def _read(self, rel: str) -> tuple[dict[str, Any] | None, str]:
        try:
            raw = self._read_bytes(rel)
            if raw is None:
                return None, f"{rel} does not exist (has its stage run?)"
            data = json.loads(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"{rel} cannot be read as JSON ({exc})"
        if not isinstance(data, dict):
            return None, f"{rel} does not hold a JSON object"
        return data, ""


@dataclass(frozen=True)
class Check:
    """One rule of a policy being evaluated: writes its result records."""

    rule: RuleBase
    index: int

    def result(
        self, model: str | None, metric: str | None, observed: Any, limit: str, passed: bool, message: str
    ) -> dict[str, Any]:
        if isinstance(observed, float):
            observed = round(observed, 6)
        return {
            "rule": self.rule.label(self.index),
            "index": self.index,
            "type": self.rule.type,
            "model": model,
            "metric": metric,
            "observed": observed,
            "limit": limit,
            "passed": passed,
            "message": message,
        }

    def fail(
        self, message: str, *, model: str | None = None, metric: str | None = None, limit: str = ""
    ) -> list[dict[str, Any]]:
        return [self.result(model, metric, None, limit, False, message)]


def number(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def shown(value: float) -> str:
    return f"{value:.6g}"
