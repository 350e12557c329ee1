"""Deployment specs as the compiler resolves them, and a guard that no engine outlives a test."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import Deployment
    from llmops.compiler.stages.deploy import DeployConfig


def deployment_spec(name: str = "support", **overrides: Any) -> Deployment:
    """A typed Deployment, from its fields as they appear in its stage config (`overrides` merge
    into the sections they name)."""
    from llmops.compiler.kinds.deployment import Deployment

    spec: dict[str, Any] = {
        "kind": "Deployment",
        "name": name,
        "model": {"finetune": "tiny"},
        "environment": "production",
        "policies": [],
        "engine": {
            "type": "transformers",
            "max_model_len": None,
            "gpu_memory_utilization": 0.9,
            "tensor_parallel_size": 1,
            "dtype": "auto",
            "lora": "multi",
            "startup_timeout_s": 180,
        },
        "serving": {"host": "127.0.0.1", "port": 8000, "api_key_env": None},
        "smoke_tests": [],
        "monitoring": {"schedule": None, "feedback_db": "sqlite"},
        "kubernetes": {"enabled": False, "namespace": "default", "runtime": "vllm", "storage_uri": None},
        "status": "active",
        "resources": {"gpus": 0, "strategy": "auto"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return Deployment.model_validate(spec)


def deploy_config(spec: Deployment, model: dict[str, Any] | None = None) -> DeployConfig:
    """The typed config of `deploy-<name>`, read as `llmops run` reads the compiled file."""
    from llmops.runners.registry import typed_config

    return typed_config(
        {
            "stage": f"deploy-{spec.name}",
            "kind": "deploy",
            "runner_version": 1,
            "spec": spec.model_dump(mode="json"),
            "inputs": {"model": model or {"path": "models/tiny"}, "policies": []},
            "outputs": {"outs": [], "metrics": [], "plots": [], "reports": []},
        }
    )


def git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, f"git {args}: {out.stdout}{out.stderr}"
    return out.stdout


def approve(root: Path, *paths: str, stage: str = "tune-tiny") -> str:
    """Commit a dvc.lock that records these folders, as they are now, as outputs of `stage`
    (the hashes computed as DVC computes them: tests/results/test_dvchash.py checks that against
    DVC); `git init` first when `root` is no repository yet. Returns the commit's sha."""
    from llmops.results.dvchash import md5_on_disk

    if not (root / ".git").exists():
        git(root, "init", "-q")
    outs = []
    for path in paths:
        md5 = md5_on_disk(root / path)
        assert md5 is not None, f"{path} does not exist"
        outs.append({"path": path, "hash": "md5", "md5": md5})
    lock = {"schema": "2.0", "stages": {stage: {"cmd": f"llmops run {stage}", "outs": outs}}}
    (root / "dvc.lock").write_text(json.dumps(lock, indent=2) + "\n")  # JSON is YAML
    git(root, "add", "dvc.lock")
    git(root, "commit", "-q", "--allow-empty", "-m", f"approve {', '.join(paths)}")
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="session")
def make_spec():
    return deployment_spec


@pytest.fixture(scope="session")
def git_in():
    """`git_in(root, *args)`: git with a test identity; its output, asserted to succeed."""
    return git


@pytest.fixture(scope="session")
def approved():
    """`approved(root, *folders)`: commit a dvc.lock approving those folders as they are now."""
    return approve


@pytest.fixture(scope="session")
def make_deploy_config():
    return deploy_config


@pytest.fixture
def engine_reaper():
    """Collects engine processes and pids a test starts; stops every one of them afterwards,
    whatever the test's outcome, and also any engine a live record under `roots` still names."""
    from llmops.runners.deploy.engine import stop_engine
    from llmops.runners.deploy.live import is_our_engine

    class Reaper:
        def __init__(self) -> None:
            self.procs: list[Any] = []
            self.roots: list[Path] = []

        def add(self, proc: Any) -> Any:
            self.procs.append(proc)
            return proc

    reaper = Reaper()
    yield reaper
    for proc in reaper.procs:
        with contextlib.suppress(Exception):
            stop_engine(proc, timeout_s=5)
    for root in reaper.roots:
        for live in (root / ".llmops" / "serve").glob("*/live.json"):
            with contextlib.suppress(Exception):
                record = json.loads(live.read_text())
                if is_our_engine(record):
                    stop_engine(int(record["pid"]), timeout_s=5)
