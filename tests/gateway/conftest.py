"""Gateway test fixtures: a fast fake engine (in a thread or a process), gateways on loopback
free ports with a fresh SQLite store each, and a tiny llmops project with a Deployment."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
FAKE_ENGINE = HERE / "fake_engine.py"


def _load_fake_engine() -> Any:
    spec = importlib.util.spec_from_file_location("llmops_tests_fake_engine", FAKE_ENGINE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fake_engine() -> Iterator[str]:
    """URL of a fake OpenAI engine served on loopback by uvicorn in a thread."""
    from llmops.gateway.server import ThreadedServer

    with ThreadedServer(_load_fake_engine().app) as server:
        yield server.url


@dataclass
class RunningGateway:
    url: str
    db: Any  # sqlalchemy.Engine of the store
    db_url: str
    gateway: Any
    server: Any

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def rows(self, table: str) -> list[dict]:
        import sqlalchemy as sa

        from llmops.feedback_db import store

        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(getattr(store, table)))]

    def metric(self, name: str, **labels: str) -> float:
        """The value of one Prometheus sample from /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        key = self.gateway.api_key or next(iter(self.gateway.api_keys.values()), None)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        text = httpx.get(self.url + "/metrics", headers=headers).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


@pytest.fixture
def start_gateway(tmp_path: Path, fake_engine: str) -> Iterator[Callable[..., RunningGateway]]:
    """`start_gateway(**Gateway kwargs)`: a gateway in front of the fake engine (or `upstream=`)."""
    from llmops.feedback_db import store
    from llmops.gateway.app import Gateway, build_app
    from llmops.gateway.server import ThreadedServer
    from llmops.gateway.upstream import Upstream

    running: list[RunningGateway] = []

    def start(deployment: str = "support", upstream: Any = None, **kwargs: Any) -> RunningGateway:
        db_url = f"sqlite:///{tmp_path}/gw-{len(running)}/gateway.sqlite3"
        db = store.connect(db_url)
        gateway = Gateway(deployment, db, upstream or Upstream(url=fake_engine), **kwargs)
        server = ThreadedServer(build_app(gateway)).start()
        running.append(RunningGateway(server.url, db, db_url, gateway, server))
        return running[-1]

    yield start
    for gw in running:
        gw.server.stop()
        gw.db.dispose()


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory, fake_engine: str) -> Iterator[RunningGateway]:
    """One gateway (4 KiB body limit) for the many tests that only send what it must refuse."""
    from llmops.feedback_db import store
    from llmops.gateway.app import Gateway, build_app
    from llmops.gateway.server import ThreadedServer
    from llmops.gateway.upstream import Upstream

    db_url = f"sqlite:///{tmp_path_factory.mktemp('shared-gateway')}/gateway.sqlite3"
    db = store.connect(db_url)
    gateway = Gateway("support", db, Upstream(url=fake_engine), max_body_bytes=4096)
    server = ThreadedServer(build_app(gateway)).start()
    yield RunningGateway(server.url, db, db_url, gateway, server)
    server.stop()
    db.dispose()


def spawn_fake_engine(port: int, delay_ms: float = 0, model: str = "fake-model") -> subprocess.Popen:
    env = {**os.environ, "FAKE_ENGINE_DELAY_MS": str(delay_ms), "FAKE_ENGINE_MODEL": model}
    proc = subprocess.Popen([sys.executable, str(FAKE_ENGINE), "--port", str(port)], env=env)
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
    return proc


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s} s")


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


@pytest.fixture
def engine_process() -> Iterator[Callable[..., tuple[str, subprocess.Popen]]]:
    """`engine_process(delay_ms=0, model=...)`: a fake engine in its own process -> (url, proc)."""
    from llmops.gateway.server import free_port

    procs: list[subprocess.Popen] = []

    def start(delay_ms: float = 0, model: str = "fake-model") -> tuple[str, subprocess.Popen]:
        port = free_port()
        procs.append(spawn_fake_engine(port, delay_ms, model))
        return f"http://127.0.0.1:{port}", procs[-1]

    yield start
    for proc in procs:
        stop(proc)


def spawn_serve(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`llmops serve support ARGS` in `root`, as its own process (stdout+stderr piped, text)."""
    argv = [sys.executable, "-m", "llmops.cli.main", "-C", str(root), "serve", "support", *args]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def helpers() -> Any:
    """Process helpers shared by the CLI and load tests (no imports between test files)."""

    class Helpers:
        wait_http = staticmethod(wait_http)
        stop = staticmethod(stop)
        spawn_serve = staticmethod(spawn_serve)

    return Helpers


DEPLOYMENT_YAML = """apiVersion: llmops/v1
kind: Deployment
name: support
environment: dev
model:
  path: base
engine:
  type: transformers
  startup_timeout_s: 120
serving:
  port: {port}
{extra}"""

PROJECT_YAML = """apiVersion: llmops/v1
kind: Project
name: gw-test
defaults:
  runners:
    cpu: [ubuntu-latest]
    gpu: [self-hosted, gpu]
"""


@pytest.fixture
def serve_project(tmp_path: Path) -> Callable[..., Path]:
    """`serve_project(port, extra_yaml="")`: a project folder with one Deployment 'support'."""

    def make(port: int, extra: str = "") -> Path:
        root = tmp_path / "project"
        (root / "specs").mkdir(parents=True, exist_ok=True)
        (root / "llmops.yaml").write_text(PROJECT_YAML)
        (root / "specs" / "support.yaml").write_text(DEPLOYMENT_YAML.format(port=port, extra=extra))
        return root

    return make
