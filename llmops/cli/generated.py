"""Writing generated files: only at the CLI edge, atomically, and never a file we didn't make."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from llmops.atomic import write_text
from llmops.compiler.emit.header import HEADER_TEXT

OWNED_PATTERNS = (
    ".llmops/stages/*.json",
    ".github/workflows/llmops-*.yml",
    ".llmops/schema.json",
    "dvc.yaml",
    "deploy/*/inferenceservice.yaml",
)


@dataclass(frozen=True)
class Drift:
    changed: list[str]
    missing: list[str]
    stale: list[str]

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.stale)

    def lines(self) -> list[str]:
        return (
            [f"  changed: {p}" for p in self.changed]
            + [f"  missing: {p}" for p in self.missing]
            + [f"  no longer generated: {p}" for p in self.stale]
        )


def compare(root: Path, files: dict[str, str]) -> Drift:
    changed, missing = [], []
    for rel, text in files.items():
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif path.read_bytes() != text.encode("utf-8"):
            changed.append(rel)
    return Drift(changed, missing, stale_files(root, files))


def stale_files(root: Path, files: dict[str, str]) -> list[str]:
    """Files llmops generated earlier that the current specs no longer produce."""
    found = []
    for pattern in OWNED_PATTERNS:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if rel in files or not fnmatch.fnmatchcase(rel, pattern) or not path.is_file():
                continue
            if HEADER_TEXT in path.read_text(encoding="utf-8", errors="replace")[:400]:
                found.append(rel)
    return found


def write_all(root: Path, files: dict[str, str]) -> tuple[list[str], list[str]]:
    """Write what differs, remove what is stale; returns (written, removed)."""
    drift = compare(root, files)
    written = sorted(drift.changed + drift.missing)
    for rel in written:
        write_text(root / rel, files[rel])
    for rel in drift.stale:
        (root / rel).unlink()
        folder = (root / rel).parent
        if rel.startswith("deploy/") and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # a retired deployment's manifest folder goes with its manifest
    return written, drift.stale
