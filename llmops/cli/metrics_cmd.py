"""`llmops metrics diff`: run the real `dvc metrics diff --json` against a git ref, render it.

The I/O half: it checks the ref with git, runs DVC (argument lists, never a shell) in the
project folder and prints what `llmops.metrics_diff` renders. The result never changes the exit
status (worse metrics are for reviewers and policies to judge); a bad ref or a missing tool is
a usage error, exit 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from llmops.errors import LlmopsError, UsageError

_FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def cmd_metrics(args: argparse.Namespace) -> int:
    from llmops.metrics_diff import diff_json, diff_markdown, diff_text, make_diff

    root = Path(args.project).resolve()
    if not root.is_dir():
        raise UsageError(f"project folder {root} does not exist")
    commit = resolve_ref(root, args.base)
    data = dvc_metrics_diff(root, commit)
    label = args.base[:12] if _FULL_SHA.match(args.base) else args.base
    diff = make_diff(data, label, show_all=args.show_all)
    render = {"markdown": diff_markdown, "json": diff_json, "text": diff_text}[args.format]
    sys.stdout.write(render(diff))
    return 0


def resolve_ref(root: Path, ref: str) -> str:
    """The commit a git ref names, as a full SHA; a UsageError naming the ref otherwise."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"unknown git ref '{ref}'")
    git = shutil.which("git")
    if git is None:
        raise UsageError("git is not installed; `llmops metrics diff` compares against a git ref")
    inside = _run([git, "rev-parse", "--is-inside-work-tree"], root)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise UsageError(f"{root} is not inside a git work tree; metrics diff compares against a git ref")
    found = _run([git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if found.returncode != 0 or not found.stdout.strip():
        raise UsageError(
            f"unknown git ref '{ref}' (in a shallow clone, fetch the base commit: "
            "actions/checkout with fetch-depth: 0)"
        )
    return found.stdout.strip()


def dvc_metrics_diff(root: Path, commit: str) -> dict:
    """What `dvc metrics diff --json --all <commit>` prints, parsed.

    Always `--all`: a file's `_directions` hints are metrics to DVC, and an unchanged hint would
    otherwise be left out; `make_diff` drops the unchanged rows itself unless asked for them.
    DVC's warnings (a metrics file missing at the base, one that does not parse) go to stderr.
    """
    done = _run([*dvc_command(), "metrics", "diff", "--json", "--all", commit], root)
    if done.returncode != 0:
        raise LlmopsError(f"dvc metrics diff failed (exit {done.returncode}):\n{done.stderr.strip()}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    try:
        data = json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise LlmopsError(f"dvc metrics diff printed something that is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LlmopsError("dvc metrics diff printed JSON that is not an object")
    return data


def dvc_command() -> list[str]:
    """DVC from this Python environment (llmops depends on it), else a `dvc` on PATH."""
    if importlib.util.find_spec("dvc") is not None:
        return [sys.executable, "-m", "dvc"]
    found = shutil.which("dvc")
    if found is None:
        raise UsageError("dvc is not installed: `pip install dvc` (or reinstall llmops, which needs it)")
    return [found]


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
