"""The gate stage: it writes its record, then fails the stage when a rule failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.compiler.stages.gate import GateConfig
from llmops.errors import CheckFailed
from llmops.runners.gate.run import run
from llmops.runners.registry import runner_for


def typed(min_rouge: float) -> GateConfig:
    """What the runner registry hands the runner."""
    return GateConfig.model_validate(config(min_rouge))


def config(min_rouge: float) -> dict:
    """Shaped like `.llmops/stages/gate-release.json`."""
    return {
        "stage": "gate-release",
        "kind": "gate",
        "runner_version": 1,
        "spec": {
            "kind": "Policy",
            "name": "release",
            "rules": [
                {
                    "name": "quality",
                    "type": "threshold",
                    "suite": "quality",
                    "metric": "rougeL",
                    "min": min_rouge,
                },
                {"type": "leaked-secrets", "max": None},
            ],
            "review": {"bias": {}},
        },
        "inputs": {"results": ["metrics/eval-quality.json", "metrics/review-release.json"]},
        "outputs": {"outs": [], "metrics": ["metrics/gate-release.json"], "plots": [], "reports": []},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/eval-quality.json").write_text(
        json.dumps({"models": {"finetune:tiny": {"rougeL": 0.4, "n": 3}}, "baselines": {}, "deltas": {}})
    )
    (tmp_path / "metrics/review-release.json").write_text(
        json.dumps({"models": {"tiny": {"leaked_secrets": 0}}})
    )
    return tmp_path


def test_registered():
    assert runner_for("gate") is run


def test_passing_gate_writes_its_record(root):
    run(typed(0.3), root)
    record = json.loads((root / "metrics/gate-release.json").read_text())
    assert record["passed"] is True and record["failed"] == 0
    assert [r["rule"] for r in record["rules"]] == ["quality", "leaked-secrets#1"]


def test_failing_gate_writes_the_record_then_fails(root):
    with pytest.raises(CheckFailed) as info:
        run(typed(0.5), root)
    assert info.value.exit_code == 1
    assert "gate-release: 1 rule result failed" in str(info.value) and "quality:" in str(info.value)
    record = json.loads((root / "metrics/gate-release.json").read_text())
    assert record["passed"] is False and record["failed"] == 1
    assert record["rules"][0]["observed"] == 0.4 and not record["rules"][0]["passed"]


def test_missing_results_fail_the_gate(tmp_path):
    with pytest.raises(CheckFailed, match="does not exist"):
        run(typed(0.1), tmp_path)
    assert json.loads((tmp_path / "metrics/gate-release.json").read_text())["failed"] == 2
