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
    """Requests and feedback for the `support` deployment, one second apart after NOW."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows

    def request(
        self,
        text: str | None,
        response: str | None,
        *,
        at: float | None = None,
        status: int = 200,
        deployment: str | None = None,
    ) -> str:
        when = NOW + self.rows.count + 1 if at is None else at
        return self.rows.request(
            created_at=when,
            text=text,
            response=response,
            status=status,
            latency_ms=120.0,
            deployment=deployment,
        )

    def feedback(self, rid: str, *, at: float | None = None, **values: Any) -> None:
        self.rows.count += 1
        when = NOW + 1000 + self.rows.count if at is None else at
        self.rows.feedback(rid, created_at=when, **values)


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
def store(project: Path, gateway_rows) -> Store:
    from llmops.feedback_db.store import default_url

    return Store(gateway_rows(default_url(project, "support"), "support"))
