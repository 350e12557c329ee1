"""A real PostgreSQL 16 + pgvector server for tests, from the binaries pgserver bundles.

`pgvector_server()` runs initdb into a fresh folder, starts `postgres` on loopback on a free
port (and a Unix socket in the same folder), creates the `vector` extension, yields the DSN
and stops the server (fast shutdown) when the block ends. PostgreSQL refuses to run as root,
so as root the server runs as `nobody` from a folder that user owns. Tests call
`require_pgserver()` first: it skips with the reason when pgserver is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 30.0


def binaries() -> Path | None:
    """pgserver's `pginstall/bin`, or None when pgserver is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")  # not imported: only its files are used
    folder = Path(spec.origin).parent / "pginstall" / "bin" if spec and spec.origin else None
    return folder if folder and (folder / "postgres").is_file() else None


def require_pgserver() -> Path:
    """The binaries folder, or skip the test saying why."""
    import pytest

    folder = binaries()
    if folder is None:
        pytest.skip("pgserver is not installed (pip install pgserver): it bundles PostgreSQL + pgvector")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def pgvector_server(binaries_dir: Path | None = None) -> Iterator[str]:
    """Start a throwaway server; yield `postgresql://postgres@127.0.0.1:<port>/postgres`."""
    bin_dir = binaries_dir or binaries()
    if bin_dir is None:
        raise RuntimeError("pgserver is not installed")
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="llmops-pg-"))
    data = base / "data"
    user = {"user": "nobody", "group": 65534} if as_root else {}
    if as_root:
        base.chmod(0o755)
        os.chown(base, 65534, 65534)
    port = free_port()
    process = None
    try:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=base,
            **user,
        )
        log = (base / "postgres.log").open("wb")
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-k",
                str(base),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=32MB",
                "-c",
                "max_connections=20",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
            **user,
        )
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_ready(dsn, process, base / "postgres.log")
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield dsn
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(dsn: str, process: subprocess.Popen, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"postgres exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres did not start in {START_TIMEOUT_S} s: {tail}") from None
            time.sleep(0.1)
