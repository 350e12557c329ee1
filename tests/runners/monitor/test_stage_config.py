"""What the compiler gives the monitor stage: the thresholds of every Policy that applies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.compiler.stages.monitor import MonitorConfig

FULL = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "full"


def _config(tmp_path: Path) -> MonitorConfig:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import load_project

    _, graph = plan_graph(load_project(tmp_path))
    return graph.stage("monitor-prod").config


def test_thresholds_of_named_and_scoped_policies(tmp_path: Path) -> None:
    shutil.copytree(FULL, tmp_path, dirs_exist_ok=True)
    release = tmp_path / "specs/policies/release.yaml"
    release.write_text(release.read_text() + "monitoring: {min_rating: 4, max_drift: 0.3}\n")
    (tmp_path / "specs/policies/slo.yaml").write_text(
        "kind: Policy\nname: slo\napplies_to: {environments: [production]}\n"
        "monitoring: {max_p95_latency_ms: 1500}\n"
    )
    (tmp_path / "specs/policies/staging.yaml").write_text(
        "kind: Policy\nname: staging-only\napplies_to: {environments: [staging]}\n"
        "monitoring: {max_p95_latency_ms: 10}\n"
    )
    config = _config(tmp_path)
    inputs = config.params()["inputs"]
    assert inputs["policies"] == ["release", "slo"]
    assert inputs["thresholds"] == [
        {"policy": "release", "threshold": "max_drift", "limit": 0.3},
        {"policy": "release", "threshold": "min_rating", "limit": 4.0},
        {"policy": "slo", "threshold": "max_p95_latency_ms", "limit": 1500.0},
    ]
    assert inputs["reference"] == {"path": "artifacts/datasets/tickets/train.jsonl", "columns": ["text"]}
    assert inputs["model"] == {"path": "artifacts/models/tiny"}
    assert inputs["prompt"]["name"] == "answer"
    assert inputs["window_days"] == 7 and inputs["feedback_db"] == "sqlite"
    assert config.outputs.metrics == ["metrics/monitor-prod.json"]
    assert config.outputs.plots == ["plots/monitor-prod"]


def test_compiled_config_runs_against_a_store(tmp_path: Path, make_store, now: float) -> None:
    """The compiler's config, as `llmops run monitor-prod` passes it, drives the runner: the
    chatml template comes off logged prompts and the policy's thresholds are checked."""
    import json

    import pytest

    from llmops.errors import CheckFailed
    from llmops.runners.monitor.run import run
    from llmops.runners.registry import typed_config

    shutil.copytree(FULL, tmp_path, dirs_exist_ok=True)
    release = tmp_path / "specs/policies/release.yaml"
    release.write_text(release.read_text() + "monitoring: {max_drift: 0.2, max_p95_latency_ms: 1000}\n")
    train = tmp_path / "artifacts/datasets/tickets/train.jsonl"
    train.parent.mkdir(parents=True)
    train.write_text(
        "".join(json.dumps({"text": f"where is parcel {i}", "answer": "soon"}) + "\n" for i in range(4))
    )
    store = make_store("prod")
    system = "You answer support tickets briefly."
    for i in range(4):
        store.request(text=f"{system}\nTicket: where is parcel {i}\nAnswer:", latency_ms=200.0)
    config = typed_config(json.loads(json.dumps(_config(tmp_path).params())))  # as `llmops run` reads it
    run(config, tmp_path, now=now)
    metrics = json.loads((tmp_path / "metrics/monitor-prod.json").read_text())
    assert metrics["drift"]["value"] == 0.0  # the same questions once the template is off
    assert metrics["drift"]["embedding"]["status"] == "skipped"
    assert "artifacts/models/tiny" in metrics["drift"]["embedding"]["reason"]
    assert [c["status"] for c in metrics["checks"]] == ["ok", "ok"]
    for _ in range(2):  # lengths 6 against 4: KS 2/6, and new words
        store.request(text="Ticket: completely different words here please\nAnswer:", latency_ms=5000.0)
    with pytest.raises(CheckFailed) as info:
        run(config, tmp_path, now=now)
    assert "max_drift 0.2" in str(info.value) and "max_p95_latency_ms 1000" in str(info.value)
