"""A real gateway store (SQLite through `llmops.gateway.store.connect`) filled with rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOW = 1_764_072_000.0  # 2025-11-25T12:00:00Z: tests pass it as the monitor's clock
DAY = 86400.0


class Store:
    """Inserts requests and feedback for one deployment; ids and times are explicit."""

    def __init__(self, url: str, deployment: str) -> None:
        from llmops.gateway import store

        self.store = store
        self.engine = store.connect(url)
        self.deployment = deployment
        self.count = 0

    def request(
        self,
        *,
        ago: float = 3600.0,
        latency_ms: float = 100.0,
        status: int = 200,
        text: str | None = "Where is my parcel?",
        response: str | None = "It ships today.",
        deployment: str | None = None,
    ) -> str:
        self.count += 1
        rid = f"resp-{self.count:04d}"
        with self.engine.begin() as conn:
            conn.execute(
                self.store.requests.insert().values(
                    id=rid,
                    created_at=NOW - ago,
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

    def feedback(
        self,
        response_id: str,
        *,
        ago: float = 1800.0,
        rating: int | None = None,
        thumbs: int | None = None,
        correction: str | None = None,
        comment: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.store.feedback.insert().values(
                    response_id=response_id,
                    created_at=NOW - ago,
                    rating=rating,
                    thumbs=thumbs,
                    correction=correction,
                    comment=comment,
                )
            )


@pytest.fixture
def make_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Store]:
    """`make_store(deployment)`: a store at the deployment's default SQLite path under tmp_path."""
    monkeypatch.delenv("LLMOPS_FEEDBACK_DB_URL", raising=False)

    def make(deployment: str = "prod") -> Store:
        from llmops.gateway.store import default_url

        return Store(default_url(tmp_path, deployment), deployment)

    return make


def monitor_config(**inputs: Any) -> dict[str, Any]:
    base = {
        "deployment": "prod",
        "policies": ["release"],
        "thresholds": [],
        "window_days": 7,
        "feedback_db": "sqlite",
        "reference": None,
        "prompt": None,
        "model": None,
        "embedding": False,
    }
    base.update(inputs)
    return {
        "stage": "monitor-prod",
        "kind": "monitor",
        "spec": {},
        "inputs": base,
        "outputs": {
            "outs": [],
            "metrics": ["metrics/monitor-prod.json"],
            "plots": ["plots/monitor-prod"],
            "reports": [],
        },
    }


@pytest.fixture
def now() -> float:
    return NOW


@pytest.fixture
def config() -> Callable[..., dict[str, Any]]:
    return monitor_config
