"""`llmops metrics diff`: the pure renderer (directions, statuses, escaping) and the command on a
real git + DVC repository with two commits of a metrics file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest

from llmops.cli import metrics_cmd
from llmops.cli.main import main
from llmops.metrics_diff import (
    DIRECTION_RULES,
    diff_json,
    diff_markdown,
    diff_text,
    direction_of,
    make_diff,
)

DVC = Path(sys.executable).parent / "dvc"


def entry(old: Any, new: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"old": old, "new": new}
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        out["diff"] = new - old
    return out


def rows(data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    diff = make_diff({"metrics/eval-x.json": data}, "main", **kwargs)
    return {row.metric: row for f in diff.files for row in f.rows}


# -- which way is better -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("eval_loss", "lower"),
        ("pretrain_eval_loss_start", "lower"),
        ("train_losses", "lower"),
        ("eval-perplexity", "lower"),
        ("latency_ms", "lower"),
        ("serving.latency.p95", "lower"),
        ("p99", "lower"),
        ("error_rate", "lower"),
        ("errors", "lower"),
        ("wall_time_s", "lower"),
        ("step_s", "lower"),
        ("energy_kwh", "lower"),
        ("gpu_hours", "lower"),
        ("seconds", "lower"),
        ("drift.psi", "lower"),
        ("feedback.thumbs_down_rate", "lower"),
        ("leaked_secrets", "lower"),
        ("bias_gap", "lower"),
        ("golden_tests.failed", "lower"),
        ("near_duplicate_rate", "lower"),
        ("pii_found.email", "lower"),
        ("tokens_per_s", "higher"),  # throughput, though it ends in _s
        ("train_steps", "higher"),  # `s` is a whole word only
        ("glossary_score", "higher"),  # `loss` only at the start of a word
        ("models.tuned.rougeL.value", "higher"),
        ("exact_match", "higher"),
        ("bleu", "higher"),
        ("n_examples", "higher"),
        ("models.tuned.rougeL.ci_low", None),
        ("rougeL.ci_high", None),
        ("rougeL.n", None),
        ("n", None),
        ("latency.ci_high", None),  # context wins over the name of its score
    ],
)
def test_direction_from_the_key(key: str, expected: str | None) -> None:
    assert direction_of(key) == expected


def test_direction_rules_are_one_documented_table() -> None:
    assert DIRECTION_RULES and all(where in ("end", "word", "start") for where, _, _ in DIRECTION_RULES)
    words = {w for _, group, _ in DIRECTION_RULES for w in group}
    assert {"loss", "perplexity", "latency", "wall_time", "p95", "s", "ci_low", "n"} <= words


def test_hints_override_the_name_and_are_not_rows() -> None:
    data = {
        "_directions.refusals": {"old": "lower", "new": "lower"},
        "_directions.eval_loss": {"old": None, "new": "higher"},
        "_directions.models.tuned.score": {"old": "none", "new": "none"},
        "_directions.bogus": {"old": "sideways", "new": "sideways"},
        "refusals": entry(4, 2),
        "eval_loss": entry(1.0, 2.0),
        "models.tuned.score": entry(0.5, 0.6),
        "bogus": entry(1, 2),
    }
    got = rows(data)
    assert set(got) == {"refusals", "eval_loss", "models.tuned.score", "bogus"}
    assert (got["refusals"].status, got["refusals"].direction) == ("better", "lower")
    assert (got["eval_loss"].status, got["eval_loss"].direction) == ("better", "higher")
    assert got["models.tuned.score"].status == "context"
    assert got["bogus"].status == "better"  # an unknown hint leaves the name's rule


# -- statuses and numbers --------------------------------------------------------------------------


def test_better_worse_same_new_removed_changed_context() -> None:
    got = rows(
        {
            "rougeL": entry(0.31, 0.35),
            "eval_loss": entry(2.5, 2.1),
            "latency_p95_s": entry(0.12, 0.15),
            "accuracy": entry(0.8, 0.7),
            "exact_match": entry(0.5, 0.5),
            "bleu": entry(None, 0.2),
            "old_metric": entry(3, None),
            "method": entry("lora", "qlora"),
            "flag": entry(True, False),
            "rougeL_stats.ci_low": entry(0.2, 0.25),
        },
        show_all=True,
    )
    status = {k: r.status for k, r in got.items()}
    assert status == {
        "rougeL": "better",
        "eval_loss": "better",
        "latency_p95_s": "worse",
        "accuracy": "worse",
        "exact_match": "same",
        "bleu": "new",
        "old_metric": "removed",
        "method": "changed",
        "flag": "changed",  # booleans are not numbers
        "rougeL_stats.ci_low": "context",
    }
    assert str(got["rougeL"].change) == "0.04"  # exact decimal, no float noise
    assert got["rougeL"].trend == "up" and got["eval_loss"].trend == "down"
    assert got["exact_match"].trend is None


def test_unchanged_rows_and_files_only_with_show_all() -> None:
    data = {
        "metrics/eval-a.json": {"rougeL": entry(0.3, 0.4), "bleu": entry(0.2, 0.2)},
        "metrics/tune-b.json": {"eval_loss": entry(1.0, 1.0), "method": entry("lora", "lora")},
    }
    short = make_diff(data, "main")
    assert [(f.path, [r.metric for r in f.rows]) for f in short.files] == [
        ("metrics/eval-a.json", ["rougeL"])
    ]
    full = make_diff(data, "main", show_all=True)
    assert [f.path for f in full.files] == ["metrics/eval-a.json", "metrics/tune-b.json"]
    assert [r.metric for r in full.files[0].rows] == ["bleu", "rougeL"]


def test_context_rows_follow_their_score() -> None:
    data = {
        "models.tuned.rougeL.ci_low": entry(0.2, 0.25),
        "models.tuned.rougeL.value": entry(0.3, 0.35),
        "models.tuned.rougeL.n": entry(100, 120),
        "models.tuned.rougeL.ci_high": entry(0.4, 0.45),
        "models.base.bleu": entry(0.1, 0.2),
        "accuracy": entry(0.5, 0.6),
    }
    assert list(rows(data)) == [
        "accuracy",
        "models.base.bleu",
        "models.tuned.rougeL.value",
        "models.tuned.rougeL.ci_high",
        "models.tuned.rougeL.ci_low",
        "models.tuned.rougeL.n",
    ]


def test_markdown_table() -> None:
    data = {
        "metrics/eval-x.json": {
            "eval_loss": entry(2.5, 2.0),
            "latency_p95_s": entry(0.1, 0.125),
            "rougeL.value": entry(0.3, 0.33),
            "rougeL.n": entry(100, 120),
            "bleu": entry(None, 0.2),
            "gone": entry(0, None),
            "steps": entry(0, 5),
            "method": entry("lora", "qlora"),
        }
    }
    assert diff_markdown(make_diff(data, "main")) == (
        "### llmops metrics against `main`\n"
        "\n"
        "3 better, 1 worse, 1 new, 1 removed, 1 changed, 1 context\n"
        "\n"
        "#### `metrics/eval-x.json`\n"
        "\n"
        "| metric | base | this PR | change | |\n"
        "| --- | ---: | ---: | ---: | --- |\n"
        "| `bleu` | — | 0.2 |  | ⚪ new |\n"
        "| `eval_loss` | 2.5 | 2.0 | -0.5 (-20.0%) | ▼ 🟢 better |\n"
        "| `gone` | 0 | — |  | ⚪ removed |\n"
        "| `latency_p95_s` | 0.1 | 0.125 | +0.025 (+25.0%) | ▲ 🔴 worse |\n"
        "| `method` | lora | qlora |  | ⚪ changed |\n"
        "| `rougeL.value` | 0.3 | 0.33 | +0.03 (+10.0%) | ▲ 🟢 better |\n"
        "| `rougeL.n` | 100 | 120 | +20 (+20.0%) |  |\n"  # context: no arrow, no verdict
        "| `steps` | 0 | 5 | +5 | ▲ 🟢 better |\n"  # no percentage from 0
    )


def test_no_difference_says_so() -> None:
    same = {"metrics/eval-x.json": {"bleu": entry(0.2, 0.2)}}
    assert diff_markdown(make_diff(same, "main")) == (
        "### llmops metrics against `main`\n\nNo metric changed against `main`.\n"
    )
    assert diff_markdown(make_diff({}, "abc123")).endswith("No metric changed against `abc123`.\n")
    assert diff_text(make_diff(same, "main")) == "No metric changed against main.\n"
    assert json.loads(diff_json(make_diff(same, "main")))["files"] == {}


def test_markdown_escapes_names_and_values() -> None:
    data = {
        "metrics/eval|x.json": {
            "a|b": entry(1, 2),
            "tick`name": entry(1, 2),
            "`edge`": entry(1, 2),
            "note": entry("x|y", "<script>alert(1)</script> *bold* [l](u)\nline"),
        }
    }
    text = diff_markdown(make_diff(data, "feat|`x`"))
    assert "### llmops metrics against `` feat\\|`x` ``" in text
    assert "#### `metrics/eval\\|x.json`" in text
    assert "| `a\\|b` |" in text
    assert "| ``tick`name`` |" in text
    assert "| `` `edge` `` |" in text
    assert "| x\\|y | \\<script\\>alert(1)\\</script\\> \\*bold\\* \\[l\\](u) line |" in text
    for line in text.splitlines():
        if line.startswith("| "):  # every row still has exactly five cells
            assert line.replace("\\|", "").count("|") == 6, line


def test_text_and_json_formats() -> None:
    data = {"metrics/eval-x.json": {"eval_loss": entry(2.5, 2.0), "odd": entry(float("nan"), 1.0)}}
    diff = make_diff(data, "main")
    text = diff_text(diff)
    assert text.splitlines()[0] == "Metrics against main: 1 better, 1 changed"
    assert "eval_loss   2.5        2.0  -0.5 (-20.0%)  ▼ better" in text
    doc = json.loads(diff_json(diff))
    assert doc["counts"]["better"] == 1
    loss = doc["files"]["metrics/eval-x.json"][0]
    assert loss == {
        "metric": "eval_loss",
        "base": 2.5,
        "new": 2.0,
        "change": -0.5,
        "relative_percent": -20.0,
        "trend": "down",
        "better": "lower",
        "status": "better",
    }
    assert doc["files"]["metrics/eval-x.json"][1]["base"] == "nan"


# -- the command -----------------------------------------------------------------------------------


def test_not_a_git_repository_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["-C", str(tmp_path), "metrics", "diff"]) == 2
    assert "not inside a git work tree" in capsys.readouterr().err


def test_missing_dvc_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    repo = git.Repo.init(tmp_path)
    (tmp_path / "x").write_text("x")
    repo.index.add(["x"])
    repo.index.commit("one")
    real_git = shutil.which("git")
    monkeypatch.setattr(metrics_cmd.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(metrics_cmd.shutil, "which", lambda name: real_git if name == "git" else None)
    assert main(["-C", str(tmp_path), "metrics", "diff"]) == 2
    assert "dvc is not installed" in capsys.readouterr().err


def test_metrics_needs_an_action(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["metrics"])
    assert info.value.code == 2


# -- on a real git + DVC repository -----------------------------------------------------------------

V1_EVAL = {
    "eval_loss": 2.5,
    "models": {"tuned": {"rougeL": {"value": 0.31, "ci_low": 0.27, "ci_high": 0.35, "n": 200}}},
    "latency_p95_s": 0.12,
    "exact_match": 0.5,
    "refusals": 4,
    "legacy_score": 0.1,
    "_directions": {"refusals": "lower"},
}
V2_EVAL = {
    "eval_loss": 2.1,
    "models": {"tuned": {"rougeL": {"value": 0.35, "ci_low": 0.3, "ci_high": 0.4, "n": 200}}},
    "latency_p95_s": 0.15,
    "exact_match": 0.5,
    "refusals": 2,
    "bleu": 0.21,
    "_directions": {"refusals": "lower"},
}
TUNE = {"train_loss": 0.5, "tokens_per_s": 1000.0}

EXPECTED_MARKDOWN = """\
### llmops metrics against `HEAD~1`

3 better, 1 worse, 1 new, 1 removed, 2 context

#### `metrics/eval-demo.json`

| metric | base | this PR | change | |
| --- | ---: | ---: | ---: | --- |
| `bleu` | — | 0.21 |  | ⚪ new |
| `eval_loss` | 2.5 | 2.1 | -0.4 (-16.0%) | ▼ 🟢 better |
| `latency_p95_s` | 0.12 | 0.15 | +0.03 (+25.0%) | ▲ 🔴 worse |
| `legacy_score` | 0.1 | — |  | ⚪ removed |
| `models.tuned.rougeL.value` | 0.31 | 0.35 | +0.04 (+12.9%) | ▲ 🟢 better |
| `models.tuned.rougeL.ci_high` | 0.35 | 0.4 | +0.05 (+14.3%) |  |
| `models.tuned.rougeL.ci_low` | 0.27 | 0.3 | +0.03 (+11.1%) |  |
| `refusals` | 4 | 2 | -2 (-50.0%) | ▼ 🟢 better |
"""


def _write(root: Path, rel: str, data: dict[str, Any]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metrics-repo")
    repo = git.Repo.init(root)
    done = subprocess.run([str(DVC), "init", "-q"], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (root / "dvc.yaml").write_text("metrics:\n  - metrics/eval-demo.json\n  - metrics/tune-demo.json\n")
    _write(root, "metrics/eval-demo.json", V1_EVAL)
    _write(root, "metrics/tune-demo.json", TUNE)
    repo.git.add(A=True)
    repo.index.commit("metrics v1")
    _write(root, "metrics/eval-demo.json", V2_EVAL)
    repo.git.add(A=True)
    repo.index.commit("metrics v2: rougeL up, eval_loss down, latency up")
    return root


def _llmops(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(root), "metrics", "diff", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_markdown_between_two_commits(dvc_repo: Path, capsys) -> None:
    code, out, _ = _llmops(capsys, dvc_repo, "--base", "HEAD~1", "--format", "markdown")
    assert code == 0
    assert out == EXPECTED_MARKDOWN


@pytest.mark.slow
def test_full_sha_is_shortened_and_all_shows_unchanged(dvc_repo: Path, capsys) -> None:
    sha = git.Repo(dvc_repo).commit("HEAD~1").hexsha
    code, out, _ = _llmops(capsys, dvc_repo, "--base", sha, "--format", "markdown", "--all")
    assert code == 0
    assert out.startswith(f"### llmops metrics against `{sha[:12]}`\n")
    assert "#### `metrics/tune-demo.json`" in out
    assert "| `tokens_per_s` | 1000.0 | 1000.0 | 0 | ⚪ same |" in out
    assert "| `exact_match` | 0.5 | 0.5 | 0 | ⚪ same |" in out
    assert "_directions" not in out


@pytest.mark.slow
def test_json_and_text_and_no_change(dvc_repo: Path, capsys) -> None:
    code, out, _ = _llmops(capsys, dvc_repo, "--base", "HEAD~1", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["counts"] == {"better": 3, "worse": 1, "new": 1, "removed": 1, "changed": 0, "same": 0}
    assert list(doc["files"]) == ["metrics/eval-demo.json"]
    code, out, _ = _llmops(capsys, dvc_repo, "--base", "HEAD~1")
    assert code == 0 and out.startswith("Metrics against HEAD~1: 3 better, 1 worse")
    code, out, _ = _llmops(capsys, dvc_repo, "--format", "markdown")  # against HEAD: clean workspace
    assert code == 0
    assert out == "### llmops metrics against `HEAD`\n\nNo metric changed against `HEAD`.\n"


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["no-such-branch", "--all", "HEAD~5"])
def test_bad_ref_is_a_usage_error_naming_it(dvc_repo: Path, capsys, ref: str) -> None:
    code, out, err = _llmops(capsys, dvc_repo, f"--base={ref}")
    assert code == 2 and out == ""
    assert f"unknown git ref '{ref}'" in err
