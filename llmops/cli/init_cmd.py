"""`llmops init DIR`: a new project whose example pipeline runs as soon as git is there."""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from llmops.errors import UsageError


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not empty; init only writes into a new or empty folder")
    starter = resources.files("llmops.cli") / "starter-project"
    staging = target.with_name(f".{target.name}.init-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _copy(starter, staging)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"created {target}/ with an example Dataset in specs/datasets/faq.yaml")
    print(f"next: cd {target} && git init && llmops compile && dvc repro")
    return 0


def _copy(source, dest: Path) -> None:
    """Copy the starter; names beginning with '_' become dotfiles (wheels drop real ones)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "__pycache__":
            continue
        name = "." + item.name[1:] if item.name.startswith("_") else item.name
        if item.is_dir():
            _copy(item, dest / name)
        else:
            (dest / name).write_bytes(item.read_bytes())
