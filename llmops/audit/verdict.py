"""What `llmops enforce` found: one check per rule of the landing, and the verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Verdict:
    commit: str
    subject: str
    branch: str
    target: str  # "main branch" or "deployment <name>"
    pr: int | None = None
    merge_style: str = "direct"
    approvals: list[str] = field(default_factory=list)
    approval_source: str = "none"
    head: str | None = None  # the pull request's head SHA, as GitHub records it (API mode)
    required_approvals: int = 0
    policies: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    # What was read leniently: specs at this commit that no longer parse with this llmops.
    notes: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return all(c.passed for c in self.checks)

    def refusals(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(name, passed, detail))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "allowed": self.allowed}
