"""`llmops compile`: writing generated files, only at the CLI edge, atomically, and never a file
we didn't make (`--check` only compares)."""

from __future__ import annotations

import argparse
import errno
import fnmatch
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from llmops.atomic import write_many
from llmops.compiler.emit.header import HEADER_TEXT
from llmops.compiler.layout import STAGE_CONFIG_DIR, STAGE_SOURCES_DIR
from llmops.errors import CheckFailed

OWNED_PATTERNS = (
    f"{STAGE_CONFIG_DIR}/*.json",
    f"{STAGE_SOURCES_DIR}/*.json",
    ".github/workflows/llmops-*.yml",
    ".llmops/schema.json",
    "dvc.yaml",
    "deploy/*/inferenceservice.yaml",
)

# what Path.is_file() takes for "no file here" (any other error is raised)
_MISSING = {errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP}


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
        path = os.path.join(root, rel)
        try:
            info = os.stat(path)
        except OSError as exc:
            if exc.errno not in _MISSING:
                raise
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            missing.append(rel)
            continue
        data = text.encode("utf-8")
        if info.st_size != len(data):
            changed.append(rel)
            continue
        with open(path, "rb") as handle:
            if handle.read() != data:
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
    write_many({root / rel: files[rel].encode("utf-8") for rel in written})
    for rel in drift.stale:
        (root / rel).unlink()
        folder = (root / rel).parent
        if rel.startswith("deploy/") and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # a retired deployment's manifest folder goes with its manifest
    return written, drift.stale


def cmd_compile(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import compile_project
    from llmops.compiler.metric_fit import metric_fit
    from llmops.compiler.parse import load_project

    root = Path(args.project)
    compiled = compile_project(load_project(root))
    for diagnostic in metric_fit(compiled.index):  # metrics that do not fit their task: not fatal
        print(f"warning: {diagnostic}", file=sys.stderr)
    if args.check:
        drift = compare(root, compiled.files)
        if not drift.clean:
            lines = "\n".join(drift.lines())
            raise CheckFailed(f"generated files are out of date; run `llmops compile`:\n{lines}")
        print(f"ok: {len(compiled.files)} generated files are up to date")
        return 0
    written, removed = write_all(root, compiled.files)
    for rel in written:
        print(f"wrote {rel}")
    for rel in removed:
        print(f"removed {rel}")
    if not written and not removed:
        print(f"up to date: {len(compiled.files)} files")
    return 0
