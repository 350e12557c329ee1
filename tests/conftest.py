"""Shared test set-up: the venv's tools on PATH, a git identity, no DVC analytics."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples so a red run can be reproduced;
# locally each run explores new ones (HYPOTHESIS_PROFILE=explore runs many more).
settings.register_profile("default", max_examples=150)
settings.register_profile("ci", max_examples=150, derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "projects"
BIN = Path(sys.executable).parent

os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
for key, value in {
    "GIT_AUTHOR_NAME": "llmops tests",
    "GIT_AUTHOR_EMAIL": "tests@llmops.invalid",
    "GIT_COMMITTER_NAME": "llmops tests",
    "GIT_COMMITTER_EMAIL": "tests@llmops.invalid",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture
def echo_kind(monkeypatch, tmp_path) -> Path:
    """Register the test-only `Echo` spec kind and `echo` stage kind (tests/fixtures/kinds/), the
    way the add-a-kind checklist adds one, and return a copy of its project."""
    import importlib

    from llmops.compiler import catalog
    from llmops.compiler.kinds import ALL_KINDS, SPEC_KINDS

    kinds = REPO / "tests" / "fixtures" / "kinds"
    monkeypatch.syspath_prepend(str(kinds))
    row = importlib.import_module("echo_kind").ROW
    spec_model = importlib.import_module("echo_kind.spec").Echo
    monkeypatch.setitem(SPEC_KINDS, "Echo", spec_model)
    monkeypatch.setitem(ALL_KINDS, "Echo", spec_model)
    monkeypatch.setattr(catalog, "CATALOG", (*catalog.CATALOG, row))
    monkeypatch.setitem(catalog.KINDS, "echo", row)
    return Path(shutil.copytree(kinds / "project", tmp_path / "echo-project"))


@pytest.fixture
def fixture_project(tmp_path: Path):
    """Copy a golden project into a temporary folder and return its path."""

    def copy(case: str) -> Path:
        target = tmp_path / case
        shutil.copytree(
            FIXTURES / case, target, ignore=shutil.ignore_patterns("expected", "expected_errors.txt")
        )
        return target

    return copy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.gpu` tests run only where CUDA is (torch is imported only if one is marked)."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in marked:
            item.add_marker(skip)


class GatewayRows:
    """Rows written straight into a real gateway store (`llmops.feedback_db.store.connect`, SQLite),
    not through HTTP, with explicit ids (`resp-0001`, ...) and times: what the monitor and the
    feedback export read."""

    def __init__(self, url: str, deployment: str) -> None:
        from llmops.feedback_db import store

        self.store = store
        self.engine = store.connect(url)
        self.deployment = deployment
        self.count = 0

    def request(
        self,
        *,
        created_at: float,
        text: str | None = "Where is my parcel?",
        response: str | None = "It ships today.",
        status: int = 200,
        latency_ms: float = 100.0,
        deployment: str | None = None,
    ) -> str:
        self.count += 1
        rid = f"resp-{self.count:04d}"
        with self.engine.begin() as conn:
            conn.execute(
                self.store.requests.insert().values(
                    id=rid,
                    created_at=created_at,
                    deployment=deployment or self.deployment,
                    model=self.deployment,
                    route="/v1/completions",
                    status_code=status,
                    latency_ms=latency_ms,
                    upstream_ms=latency_ms * 0.9,
                    request_text=text,
                    response_text=response,
                    error=None if status < 400 else "upstream failed",
                )
            )
        return rid

    def feedback(self, response_id: str, *, created_at: float, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.store.feedback.insert().values(response_id=response_id, created_at=created_at, **values)
            )


@pytest.fixture(scope="session")
def gateway_rows() -> type[GatewayRows]:
    """`gateway_rows(url, deployment)`: a writer of request and feedback rows into a real store."""
    return GatewayRows


@pytest.fixture(scope="session")
def prompt_fields():
    """`prompt_fields(**fields)`: a Prompt's fields exactly as the compiler hands them to runners
    (the `qa` prompt, "Question: {{ text }}\\nAnswer:\\n", overridden by `fields`)."""

    def make(**fields: object) -> dict:
        from llmops.compiler.kinds.prompt import Prompt
        from llmops.compiler.stages.model import result_fields as _result_fields

        spec = {
            "apiVersion": "llmops/v1",
            "kind": "Prompt",
            "name": "qa",
            "template": "Question: {{ text }}\nAnswer:\n",
            "variables": ["text"],
            "completion": "answer",
            **fields,
        }
        return _result_fields(Prompt.model_validate(spec))

    return make
