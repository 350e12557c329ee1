"""`llmops gate`: the policies' rules over the metrics files on disk, exit 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.cli.main import main

HEAVY = ("torch", "transformers", "dvc", "vllm", "peft", "datasets", "evaluate", "git")
POLICY = "specs/policies/release.yaml"


def write_metrics(root: Path, *, big_rouge: float = 0.4, leaked: int = 0) -> None:
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/eval-quality.json").write_text(
        json.dumps(
            {
                "models": {
                    "finetune:tiny": {"rougeL": 0.41, "n": 4},
                    "finetune:big": {"rougeL": big_rouge, "n": 4},
                },
                "baselines": {"base_of:tiny": {"rougeL": 0.4, "n": 4}},
                "deltas": {},
                "_directions": {},
            }
        )
    )
    (root / "metrics/review-release.json").write_text(
        json.dumps({"models": {"tiny": {"leaked_secrets": leaked}}})
    )


@pytest.fixture
def project(fixture_project, monkeypatch) -> Path:
    """The full fixture (its regression rule compares against the suite's `base_of: tiny`)."""
    root = fixture_project("full")
    monkeypatch.chdir(root)
    return root


def test_all_rules_pass(project, capsys):
    write_metrics(project)
    assert main(["gate"]) == 0
    out = capsys.readouterr().out
    assert "policy release: passed (5 of 5)" in out
    assert "PASS  threshold#0" in out and "FAIL" not in out


def test_a_failed_rule_exits_1_with_annotations_at_its_line(project, capsys):
    write_metrics(project, big_rouge=0.1)
    assert main(["gate", "release", "--annotations"]) == 1
    captured = capsys.readouterr()
    assert "FAILED (2 of 5 failed)" in captured.out
    errors = captured.err.splitlines()
    lines = (project / POLICY).read_text().splitlines()
    assert lines[4] == "  - type: threshold" and lines[8] == "  - type: regression"
    assert errors[0].startswith(f"::error file={POLICY},line=5,title=release%3A threshold#0::")
    assert "rougeL of finetune:big is 0.1" in errors[0]
    assert errors[1].startswith(f"::error file={POLICY},line=9,title=release%3A regression#1::")
    assert len(errors) == 2


def test_missing_metrics_fail_not_pass(project, capsys):
    assert main(["gate", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is False
    assert all("does not exist" in r["message"] for r in document["policies"]["release"]["rules"])


def test_markdown_for_the_job_summary(project, capsys):
    write_metrics(project, leaked=2)
    assert main(["gate", "--format", "markdown"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "### :x: Policy `release`: FAILED (1 of 5 failed)"
    assert out[2] == "| | rule | model | metric | observed | limit | detail |"
    assert out[3].startswith("| --- |")
    assert out[4].startswith(
        "| :white_check_mark: pass | `threshold#0` | `finetune:tiny` | `rougeL` | 0.41 | >= 0.2 |"
    )
    assert out[-1].startswith(
        "| :x: **fail** | `leaked-secrets#2` | `finetune:tiny` | `leaked_secrets` | 2 | <= 0 |"
    )


def test_unknown_policy_is_a_usage_error(project, capsys):
    assert main(["gate", "relase"]) == 2
    assert "no policy 'relase'; did you mean 'release'?" in capsys.readouterr().err


def test_bad_format_is_a_usage_error(project, capsys):
    with pytest.raises(SystemExit) as info:
        main(["gate", "--format", "html"])
    assert info.value.code == 2


def test_gate_imports_no_heavy_library(project):
    write_metrics(project)
    code = (
        "import sys\nfrom llmops.cli.main import main\n"
        "main(['gate'])\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=False
    )
    loaded = set(done.stderr.splitlines())
    assert "llmops.gates.evaluate" in loaded
    assert sorted(m for m in loaded if m.startswith("llmops.runners")) == []  # the CLI uses llmops.gates
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []
