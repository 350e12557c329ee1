"""Inference engines: which one, the exact command that starts it, and its process's life.

Two engines speak the same OpenAI-compatible API (`/v1/models`, `/v1/chat/completions`):

* vLLM on GPU machines: `vllm serve <model> --served-model-name ... --max-model-len ...
  --gpu-memory-utilization ... --tensor-parallel-size ... --dtype ...`, and for multi-LoRA
  `--enable-lora --lora-modules <deployment>=<adapter> --max-lora-rank <r>` over the base;
* `transformers serve` on CPU machines (the embedded default), pinned to the one model.

Commands are argv lists, never shell strings: no spec value is ever parsed by a shell. Secrets
(an API key) never appear in an argv, where `ps` shows them to every user of the machine: they
go through the environment. Engines bind loopback on a free port; the gateway is the public face.

This module is the contract the gateway (`llmops serve`) codes against: `choose_engine`,
`prepare_model`, `engine_argv`, `start_engine`, `wait_ready`, `stop_engine`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.compiler.catalog import stage_name
from llmops.errors import StageFailed
from llmops.runners.deploy.prepare import ServedModel, prepare_model, serve_dir

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import Deployment

__all__ = [
    "ServedModel",
    "choose_engine",
    "engine_argv",
    "engine_env",
    "free_port",
    "prepare_model",
    "serve_dir",
    "start_engine",
    "stop_engine",
    "wait_ready",
]

LOG_TAIL_CHARS = 4000


def choose_engine(spec: Deployment) -> str:
    """`engine.type`; `auto` is vLLM where CUDA is present and vLLM is installed, else transformers."""
    wanted = spec.engine.type
    if wanted in ("vllm", "transformers"):
        return wanted
    if importlib.util.find_spec("vllm") is None:  # cheap check first: torch costs seconds to import
        return "transformers"
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"


def engine_argv(
    spec: Deployment, served: ServedModel, *, host: str, port: int, engine: str | None = None
) -> list[str]:
    """The exact command that starts `engine` (default: `choose_engine(spec)`) for `served`.
    The transformers engine must run in `served.workdir` (`start_engine(..., cwd=served.workdir)`)."""
    engine = engine or choose_engine(spec)
    if engine == "vllm":
        return vllm_argv(spec, served, host=host, port=port)
    return transformers_argv(spec, served, host=host, port=port)


def vllm_argv(spec: Deployment, served: ServedModel, *, host: str, port: int) -> list[str]:
    settings = spec.engine
    argv = [_console_script("vllm"), "serve", served.path]
    if served.revision:
        argv += ["--revision", served.revision]
    # with multi-LoRA the base gets its own name and the adapter takes the deployment's name
    argv += ["--served-model-name", f"{served.name}-base" if served.adapter else served.name]
    argv += ["--host", host, "--port", str(port)]
    argv += ["--dtype", settings.dtype]
    if settings.max_model_len:
        argv += ["--max-model-len", str(settings.max_model_len)]
    argv += ["--gpu-memory-utilization", _number(settings.gpu_memory_utilization)]
    argv += ["--tensor-parallel-size", str(settings.tensor_parallel_size)]
    argv += ["--load-format", "safetensors"]  # never pickled weights; remote code stays off (default)
    if served.adapter:
        argv += [
            "--enable-lora",
            "--lora-modules",
            f"{served.name}={served.adapter}",
            "--max-lora-rank",
            str(served.lora_rank or 16),
            "--max-loras",
            "1",
        ]
    return argv


def transformers_argv(spec: Deployment, served: ServedModel, *, host: str, port: int) -> list[str]:
    """`transformers serve <deployment>` run in `served.workdir`, where that name is the model folder."""
    if not served.workdir:
        raise StageFailed(f"{_stage(served.name)}: the transformers engine needs a prepared model folder")
    return [
        _console_script("transformers"),
        "serve",
        served.name,
        "--host",
        host,
        "--port",
        str(port),
        "--device",
        "auto" if spec.resources.gpus > 0 else "cpu",
        "--dtype",
        spec.engine.dtype,
        "--no-trust-remote-code",
        "--log-level",
        "info",
    ]


def engine_env(spec: Deployment, served: ServedModel) -> dict[str, str]:
    """Environment overrides for the engine: offline for local models, unbuffered logs."""
    env = {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if Path(served.path).is_absolute():
        env["HF_HUB_OFFLINE"] = "1"  # a local folder needs nothing from the hub
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host` (the engine binds it a moment later; a clash fails start-up
    loudly rather than serving the wrong thing)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_engine(
    argv: list[str], log_path: Path, *, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the engine detached in its own session (it outlives the deploy command, and a Ctrl-C
    in the terminal that ran `llmops run` does not stop a live model); output goes to `log_path`.

    A GitHub Actions runner kills every process its job started when the job ends, finding them by
    the `RUNNER_TRACKING_ID` variable they inherit; the engine does not inherit it, so a deploy job
    on a self-hosted runner leaves its engine serving."""
    if not argv or not isinstance(argv, list):
        raise StageFailed("an engine command must be a non-empty argv list")
    environment = {**os.environ, **(env or {})}
    environment.pop("RUNNER_TRACKING_ID", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {json.dumps(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=str(cwd) if cwd else None,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StageFailed(f"cannot start {argv[0]}: {exc}; is the engine installed?") from None
    proc.llmops_log = log_path  # type: ignore[attr-defined]
    return proc


def wait_ready(
    url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, *, log_path: Path | None = None
) -> None:
    """Poll `GET <url>/v1/models` until it answers 200. Raises StageFailed with the tail of the
    engine's log when the process exits first or `timeout_s` passes."""
    log_path = log_path or getattr(proc, "llmops_log", None)
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        if proc is not None and proc.poll() is not None:
            raise StageFailed(
                f"the engine exited with code {proc.returncode} before it was ready{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/v1/models", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            raise StageFailed(f"the engine at {url} was not ready after {timeout_s:.0f} s{_tail(log_path)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def stop_engine(pid_or_proc: int | subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """SIGTERM the engine's process group (vLLM forks workers), SIGKILL it after `timeout_s`.
    Stopping an engine that is already gone is not an error."""
    proc = pid_or_proc if isinstance(pid_or_proc, subprocess.Popen) else None
    pid = proc.pid if proc is not None else int(pid_or_proc)  # type: ignore[arg-type]
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid, proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid, proc):
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(pid, proc) and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid == pid:  # started by start_engine: its own session and group
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def _alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        import psutil

        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except Exception:  # gone, or no psutil: treat as not a zombie
        return False


def _tail(log_path: Path | None) -> str:
    if log_path is None or not Path(log_path).is_file():
        return ""
    text = Path(log_path).read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
    return f"; the end of its log ({log_path}):\n{text}"


def _console_script(name: str) -> str:
    """The engine's console script next to this Python (a venv need not be on PATH), else by name."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


def _number(value: Any) -> str:
    return format(float(value), "g")


def _stage(deployment: str) -> str:
    """The deploy stage's name, for messages."""
    return stage_name("deploy", deployment)
