"""A copy of the example project with a Deployment, and its real gateway store (SQLite)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOW = 1_764_072_000.0

DEPLOYMENT = """\
kind: Deployment
name: support
description: The tuned support model, served to the help desk.
model: {finetune: support-tiny}
environment: staging
"""


class Store:
    def __init__(self, url: str, deployment: str) -> None:
        from llmops.gateway import store

        self.store = store
        self.engine = store.connect(url)
        self.deployment = deployment
        self.count = 0

    def request(
        self,
        text: str | None,
        response: str | None,
        *,
        at: float | None = None,
        status: int = 200,
        deployment: str | None = None,
    ) -> str:
        self.count += 1
        rid = f"resp-{self.count:04d}"
        with self.engine.begin() as conn:
            conn.execute(
                self.store.requests.insert().values(
                    id=rid,
                    created_at=NOW + self.count if at is None else at,
                    deployment=deployment or self.deployment,
                    model=self.deployment,
                    route="/v1/completions",
                    status_code=status,
                    latency_ms=120.0,
                    request_text=text,
                    response_text=response,
                )
            )
        return rid

    def feedback(self, rid: str, *, at: float | None = None, **values: Any) -> None:
        self.count += 1
        with self.engine.begin() as conn:
            conn.execute(
                self.store.feedback.insert().values(
                    response_id=rid, created_at=NOW + 1000 + self.count if at is None else at, **values
                )
            )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project (llmops.yaml, specs, data) plus a Deployment of support-tiny."""
    monkeypatch.delenv("LLMOPS_FEEDBACK_DB_URL", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "llmops.yaml", root / "llmops.yaml")
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")
    (root / "specs" / "deployments").mkdir(exist_ok=True)  # replaces the example's own
    (root / "specs" / "deployments" / "support.yaml").write_text(DEPLOYMENT)
    return root


@pytest.fixture
def store(project: Path) -> Store:
    from llmops.gateway.store import default_url

    return Store(default_url(project, "support"), "support")
