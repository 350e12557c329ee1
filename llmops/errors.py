"""One exception root, so the CLI can turn every user mistake into a message and an exit code.

Exit codes are part of the interface: 0 success, 1 a check or gate that found a problem,
2 invalid input or usage. A bare traceback is reserved for llmops' own bugs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place in one file; sorting them orders a report by file and line."""

    file: str
    line: int
    col: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{hint}"


class LlmopsError(Exception):
    """Root of every error a user can cause; `exit_code` is what the CLI returns for it."""

    exit_code = 2


class SpecError(LlmopsError):
    """Invalid specs: carries every diagnostic found in one pass, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics))
        count = len(self.diagnostics)
        lines = [str(d) for d in self.diagnostics]
        lines.append(f"{count} error{'s' if count != 1 else ''} in specs")
        super().__init__("\n".join(lines))


class UsageError(LlmopsError):
    """A command called wrongly: unknown stage, bad flag value, missing project."""


class CheckFailed(LlmopsError):
    """A check that ran and found a problem (stale generated files, a failed gate)."""

    exit_code = 1


class StageFailed(LlmopsError):
    """A stage ran on valid input but its data broke a contract, or its tool failed."""

    exit_code = 1
