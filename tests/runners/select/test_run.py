"""The select runner: the best trial of a sweep becomes the FineTune's model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.stages.select import SelectConfig
from llmops.errors import StageFailed
from llmops.runners.registry import typed_config
from llmops.runners.select.run import run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "projects"


def config_for(
    trials: list[tuple[str, dict[str, Any]]], *, metric="eval_loss", goal="minimize"
) -> SelectConfig:
    """Shaped like `.llmops/stages/tune-<name>.json` of a FineTune with a sweep, typed."""
    data = {
        "stage": "tune-bot",
        "kind": "select",
        "runner_version": 1,
        "spec": {
            "kind": "FineTune",
            "name": "bot",
            "base_model": {"path": "base"},
            "dataset": "qa",
            "prompt": "qa",
        },
        "inputs": {
            "metric": metric,
            "goal": goal,
            "trials": [
                {
                    "name": f"trial-bot@{key}",
                    "params": params,
                    "model": f"artifacts/sweeps/bot/{key}",
                    "metrics": f"metrics/sweeps/bot/{key}.json",
                }
                for key, params in trials
            ],
        },
        "outputs": {
            "outs": ["artifacts/models/bot"],
            "metrics": ["metrics/tune-bot.json"],
            "plots": [],
            "reports": ["reports/sweep-bot.md"],
        },
    }
    return typed_config(data)  # type: ignore[return-value]


def write_trial(root: Path, key: str, metrics: Any, *, model: str | None = None) -> None:
    folder = root / f"artifacts/sweeps/bot/{key}"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "adapter_model.safetensors").write_bytes(f"weights of {model or key}".encode())
    (folder / "sub" / "config.json").write_text(json.dumps({"trial": key}))
    path = root / f"metrics/sweeps/bot/{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))


LR = [
    ("1e-05", {"training.lr": 1e-05}),
    ("0.0001", {"training.lr": 0.0001}),
    ("0.001", {"training.lr": 0.001}),
]


def three_trials(root: Path, losses=(0.9, 0.5, 0.7)) -> None:
    for (key, _), loss in zip(LR, losses, strict=True):
        write_trial(root, key, {"eval_loss": loss, "train_loss": loss + 1, "eval": {"bleu": 1 - loss}})


def read(root: Path, rel: str) -> Any:
    text = (root / rel).read_text()
    return json.loads(text) if rel.endswith(".json") else text


def test_minimize_copies_the_best_trials_model_and_metrics(tmp_path):
    three_trials(tmp_path)
    run(config_for(LR), tmp_path)
    out = tmp_path / "artifacts/models/bot"
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights of 0.0001"
    assert json.loads((out / "sub/config.json").read_text()) == {"trial": "0.0001"}
    metrics = read(tmp_path, "metrics/tune-bot.json")
    assert metrics["eval_loss"] == 0.5 and metrics["train_loss"] == 1.5
    assert metrics["sweep"] == {
        "metric": "eval_loss",
        "goal": "minimize",
        "best": "trial-bot@0.0001",
        "best_params": {"training.lr": 0.0001},
        "best_value": 0.5,
        "trials": [
            {"name": "trial-bot@1e-05", "params": {"training.lr": 1e-05}, "value": 0.9},
            {"name": "trial-bot@0.0001", "params": {"training.lr": 0.0001}, "value": 0.5},
            {"name": "trial-bot@0.001", "params": {"training.lr": 0.001}, "value": 0.7},
        ],
    }


def test_maximize_with_a_dotted_metric(tmp_path):
    three_trials(tmp_path)
    run(config_for(LR, metric="eval.bleu", goal="maximize"), tmp_path)
    assert read(tmp_path, "metrics/tune-bot.json")["sweep"]["best"] == "trial-bot@0.0001"
    three_trials(tmp_path, losses=(0.1, 0.5, 0.7))
    run(config_for(LR, metric="eval.bleu", goal="maximize"), tmp_path)
    assert read(tmp_path, "metrics/tune-bot.json")["sweep"]["best"] == "trial-bot@1e-05"
    assert (tmp_path / "artifacts/models/bot/adapter_model.safetensors").read_bytes() == b"weights of 1e-05"


def test_a_flat_key_with_a_dot_wins_over_the_nested_path(tmp_path):
    for (key, _), flat in zip(LR, (3, 1, 2), strict=True):
        write_trial(tmp_path, key, {"eval.loss": flat, "eval": {"loss": -flat}})
    run(config_for(LR, metric="eval.loss"), tmp_path)
    assert read(tmp_path, "metrics/tune-bot.json")["sweep"]["best"] == "trial-bot@0.0001"


def test_a_tie_goes_to_the_first_trial_in_sweep_order(tmp_path):
    three_trials(tmp_path, losses=(0.7, 0.5, 0.5))
    run(config_for(LR), tmp_path)
    assert read(tmp_path, "metrics/tune-bot.json")["sweep"]["best"] == "trial-bot@0.0001"
    report = read(tmp_path, "reports/sweep-bot.md")
    assert "ties the runner-up `trial-bot@0.001` and it comes first in sweep order" in report


def test_report_ranks_every_trial_and_says_why_the_winner_won(tmp_path):
    three_trials(tmp_path)
    run(config_for(LR), tmp_path)
    report = read(tmp_path, "reports/sweep-bot.md")
    assert report.startswith("# Sweep of FineTune `bot`\n")
    assert (
        "`trial-bot@0.0001` (training.lr=0.0001) was selected because its eval_loss of 0.5 is the "
        "lowest, 0.2 below the runner-up `trial-bot@0.001` (0.7)." in report
    )
    rows = [line for line in report.splitlines() if line.startswith("| ") and "`trial-bot@" in line]
    assert [row.split("`")[1] for row in rows] == ["trial-bot@0.0001", "trial-bot@0.001", "trial-bot@1e-05"]
    assert rows[0] == "| 1 | `trial-bot@0.0001` **(selected)** | 0.0001 | 0.5 |"
    assert "| rank | trial | `training.lr` | `eval_loss` |" in report


def test_report_for_maximize_and_a_single_trial(tmp_path):
    three_trials(tmp_path)
    run(config_for(LR, metric="eval.bleu", goal="maximize"), tmp_path)
    assert "is the highest, 0.2 above the runner-up `trial-bot@0.001` (0.3)" in read(
        tmp_path, "reports/sweep-bot.md"
    )
    run(config_for(LR[:1]), tmp_path)
    assert "was selected as the only trial, with eval_loss = 0.9." in read(tmp_path, "reports/sweep-bot.md")


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (
            {"train_loss": 1.0},
            "metric 'eval_loss' is missing from metrics/sweeps/bot/0.0001.json (it has: train_loss)",
        ),
        ({"eval_loss": "NaN"}, "metric 'eval_loss' in metrics/sweeps/bot/0.0001.json is 'NaN', not a number"),
        (
            '{"eval_loss": NaN}',
            "metric 'eval_loss' in metrics/sweeps/bot/0.0001.json is nan, not a finite number",
        ),
        ({"eval_loss": True}, "is True, not a number"),
        ("{broken", "its metrics file metrics/sweeps/bot/0.0001.json is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
    ],
)
def test_a_bad_trial_fails_naming_it_and_its_file(tmp_path, metrics, message):
    three_trials(tmp_path)
    write_trial(tmp_path, "0.0001", metrics)
    with pytest.raises(StageFailed) as info:
        run(config_for(LR), tmp_path)
    assert str(info.value).startswith("trial trial-bot@0.0001: ")
    assert message in str(info.value)
    assert info.value.exit_code == 1
    assert not (tmp_path / "artifacts/models/bot").exists()
    assert not (tmp_path / "metrics/tune-bot.json").exists()


def test_a_trial_that_never_ran(tmp_path):
    three_trials(tmp_path)
    (tmp_path / "metrics/sweeps/bot/0.001.json").unlink()
    with pytest.raises(StageFailed, match=r"trial trial-bot@0\.001: its metrics file .* does not exist"):
        run(config_for(LR), tmp_path)


def test_a_failure_keeps_the_previous_outputs(tmp_path, monkeypatch):
    import shutil

    three_trials(tmp_path)
    run(config_for(LR), tmp_path)
    three_trials(tmp_path, losses=(0.1, 0.5, 0.7))  # 1e-05 now wins, but copying it breaks

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copytree", broken)
    with pytest.raises(OSError, match="disk full"):
        run(config_for(LR), tmp_path)
    out = tmp_path / "artifacts/models/bot"
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights of 0.0001"
    assert read(tmp_path, "metrics/tune-bot.json")["sweep"]["best"] == "trial-bot@0.0001"
    leftovers = [p.name for p in out.parent.iterdir() if p.name != "bot"]
    assert leftovers == []


def test_a_rerun_replaces_the_whole_model_folder(tmp_path):
    three_trials(tmp_path)
    run(config_for(LR), tmp_path)
    (tmp_path / "artifacts/models/bot/stale.bin").write_bytes(b"old")
    three_trials(tmp_path, losses=(0.1, 0.5, 0.7))
    run(config_for(LR), tmp_path)
    out = tmp_path / "artifacts/models/bot"
    assert sorted(p.name for p in out.iterdir()) == ["adapter_model.safetensors", "sub"]
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights of 1e-05"


def test_runs_on_the_config_the_compiler_writes(tmp_path):
    """The select stage config of the golden project drives the runner as it is."""
    config = json.loads((FIXTURES / "full/expected/.llmops/stages/tune-big.json").read_text())
    assert config["kind"] == "select"
    for i, trial in enumerate(config["inputs"]["trials"]):
        key = trial["name"].split("@", 1)[1]
        assert trial["model"] == f"artifacts/sweeps/big/{key}"
        folder = tmp_path / trial["model"]
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_bytes(trial["name"].encode())
        (tmp_path / trial["metrics"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / trial["metrics"]).write_text(json.dumps({"eval_loss": abs(i - 2) + 0.25}))
    run(typed_config(config), tmp_path)  # type: ignore[arg-type]
    best = config["inputs"]["trials"][2]["name"]
    assert (tmp_path / "artifacts/models/big/weights.bin").read_bytes() == best.encode()
    assert (tmp_path / "reports/sweep-big.md").read_text().startswith("# Sweep of FineTune `big`")


def test_imports_no_ml_library():
    import subprocess

    heavy = "{'torch', 'transformers', 'numpy'}"
    code = f"import sys, llmops.runners.select.run; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
