"""The live record: which engine serves a deployment on this machine right now.

`.llmops/serve/<deployment>/live.json` =
`{"deployment", "version", "engine", "url", "model", "pid", "started_at", "commit"}`, plus
`"log"` (the engine's log file). It is machine state: written only by a deploy that passed its
smoke tests, atomically (the gateway, following the file, sees the old record or the new one,
never half of one), and never committed.

Before the deploy stage stops the engine a record names, it checks that the pid is still that
engine (a pid is reused after a reboot or a crash): the process must be alive and its command
line must be an engine's `serve` on the record's port.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmops.atomic import write_text

LIVE_FILE = "live.json"
FIELDS = ("deployment", "version", "engine", "url", "model", "pid", "started_at", "commit")


def live_path(folder: Path) -> Path:
    return folder / LIVE_FILE


def read_live(folder: Path) -> dict[str, Any] | None:
    """The current record, or None when there is none (or it is unreadable: nothing is live)."""
    try:
        record = json.loads(live_path(folder).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and all(k in record for k in FIELDS) else None


def write_live(folder: Path, record: dict[str, Any]) -> None:
    missing = [k for k in FIELDS if k not in record]
    if missing:
        raise ValueError(f"a live record needs {', '.join(missing)}")
    write_text(live_path(folder), json.dumps(record, indent=2, sort_keys=True) + "\n")


def is_our_engine(record: dict[str, Any]) -> bool:
    """Whether the record's pid is still the engine it started (see the module docstring)."""
    try:
        pid = int(record["pid"])
        port = urlsplit(str(record["url"])).port
    except (KeyError, TypeError, ValueError):
        return False
    if pid <= 1 or port is None:
        return False
    argv = _cmdline(pid)
    if not argv or "serve" not in argv:
        return False
    return _port_of(argv) == port


def _port_of(argv: list[str]) -> int | None:
    for i, arg in enumerate(argv):
        value = None
        if arg == "--port" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--port="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _cmdline(pid: int) -> list[str]:
    try:
        import psutil

        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return []
        return list(process.cmdline())
    except ImportError:
        pass
    except Exception:  # psutil.NoSuchProcess, AccessDenied: not ours to stop
        return []
    proc = Path(f"/proc/{pid}/cmdline")
    try:
        return [part for part in proc.read_bytes().decode(errors="replace").split("\0") if part]
    except OSError:
        return []


def git_head(root: Path) -> str | None:
    """The commit the deployment was made from, when the project is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = out.stdout.strip()
    return head if out.returncode == 0 and len(head) >= 40 else None
