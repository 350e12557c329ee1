"""A real gateway store (SQLite through `llmops.feedback_db.store.connect`) filled with rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmops.compiler.stages.monitor import MonitorConfig

NOW = 1_764_072_000.0  # 2025-11-25T12:00:00Z: tests pass it as the monitor's clock
DAY = 86400.0


class Store:
    """Requests and feedback for one deployment, timed relative to NOW (`ago` seconds before)."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows

    def request(self, *, ago: float = 3600.0, **fields: Any) -> str:
        return self.rows.request(created_at=NOW - ago, **fields)

    def feedback(self, response_id: str, *, ago: float = 1800.0, **values: Any) -> None:
        self.rows.feedback(response_id, created_at=NOW - ago, **values)


@pytest.fixture
def make_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway_rows) -> Callable[..., Store]:
    """`make_store(deployment)`: a store at the deployment's default SQLite path under tmp_path."""
    monkeypatch.delenv("LLMOPS_FEEDBACK_DB_URL", raising=False)

    def make(deployment: str = "prod") -> Store:
        from llmops.feedback_db.store import default_url

        return Store(gateway_rows(default_url(tmp_path, deployment), deployment))

    return make


def monitor_config(**inputs: Any) -> MonitorConfig:
    """The typed config of `monitor-prod`; its model is not on disk, so no embedding drift."""
    from llmops.runners.registry import typed_config

    base = {
        "deployment": "prod",
        "policies": ["release"],
        "thresholds": [],
        "window_days": 7,
        "feedback_db": "sqlite",
        "reference": None,
        "prompt": None,
        "model": {"path": "artifacts/models/tiny"},
    }
    base.update(inputs)
    return typed_config(
        {
            "stage": "monitor-prod",
            "kind": "monitor",
            "runner_version": 1,
            "spec": {
                "kind": "Deployment",
                "name": "prod",
                "model": {"finetune": "tiny"},
                "environment": "production",
            },
            "inputs": base,
            "outputs": {
                "outs": [],
                "metrics": ["metrics/monitor-prod.json"],
                "plots": ["plots/monitor-prod"],
                "reports": [],
            },
        }
    )


@pytest.fixture
def now() -> float:
    return NOW


@pytest.fixture
def config() -> Callable[..., MonitorConfig]:
    return monitor_config
