"""Real DVC on generated pipelines: a stage reruns exactly when something that matters to it
changed, and `dvc dag` / `dvc repro --dry` accept every generated dvc.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.cli.main import main

pytestmark = pytest.mark.slow


def _sh(cwd: Path, *args: str) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out.stdout


def _status(root: Path) -> dict:
    return json.loads(_sh(root, "dvc", "status", "--json") or "{}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    assert main(["init", str(root)]) == 0
    _sh(root, "git", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    _sh(root, "dvc", "repro")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_repro_runs_the_example_and_is_then_up_to_date(project):
    splits = project / "artifacts/datasets/faq"
    assert {p.name for p in splits.iterdir()} >= {"train.jsonl", "validation.jsonl", "test.jsonl"}
    metrics = json.loads((project / "metrics/data-faq.json").read_text())
    assert metrics
    assert _status(project) == {}
    assert "data-faq" in _sh(project, "dvc", "metrics", "show")


def test_description_change_reruns_nothing(project):
    _edit(project / "specs/datasets/faq.yaml", "description: Questions", "description: All questions")
    assert main(["-C", str(project), "compile"]) == 0
    assert _status(project) == {}


def test_spec_field_change_reruns_the_stage(project):
    _edit(project / "specs/datasets/faq.yaml", "train: 0.7, validation: 0.15", "train: 0.6, validation: 0.25")
    assert main(["-C", str(project), "compile"]) == 0
    status = _status(project)
    assert list(status) == ["data-faq"]
    assert "changed deps" in json.dumps(status) or "params" in json.dumps(status)
    before = (project / "artifacts/datasets/faq/train.jsonl").read_text()
    _sh(project, "dvc", "repro")
    assert (project / "artifacts/datasets/faq/train.jsonl").read_text() != before
    assert _status(project) == {}


def test_data_change_reruns_the_stage(project):
    with (project / "data/raw/faq.jsonl").open("a") as f:
        f.write(
            json.dumps(
                {"question": "Is there an API?", "answer": "Yes, see Settings, API.", "area": "features"}
            )
            + "\n"
        )
    assert list(_status(project)) == ["data-faq"]


def test_runner_version_change_reruns_the_stage(project, monkeypatch):
    import dataclasses

    from llmops.compiler import catalog

    row = catalog.KINDS["data"]
    monkeypatch.setitem(catalog.KINDS, "data", dataclasses.replace(row, version=row.version + 1))
    assert main(["-C", str(project), "compile"]) == 0
    assert list(_status(project)) == ["data-faq"]


def test_dag_and_dry_run_accept_the_full_fixture(fixture_project):
    root = fixture_project("full")
    _sh(root, "git", "init", "-q")
    _sh(root, "dvc", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    for dep in ("data/raw/extra.csv", "data/raw/corpus.txt"):
        (root / dep).parent.mkdir(parents=True, exist_ok=True)
        (root / dep).write_text("x\n")
    dag = _sh(root, "dvc", "dag", "--md")
    assert "tune-tiny" in dag and "gate-release" in dag
    # --force: a dry run cannot hash the outputs of stages it did not run
    dry = _sh(root, "dvc", "repro", "--dry", "--force")
    assert "Running stage 'data-tickets'" in dry and "Running stage 'gate-release'" in dry


def test_the_repos_own_example_indexes_and_retrieves(tmp_path, monkeypatch):
    """The example in this repository's specs/ runs for real through dvc repro as far as
    retrieval: the data, the knowledge index (the real all-MiniLM-L6-v2, seeded into a hub cache
    from its wheel after the hash check, as scripts/example.sh does) and the RAG prompt's examples
    with their passages. Editing one article then re-embeds only its chunks and reruns only the
    index and the prompt stage that reads it. (The whole example, training included, is the
    README's main command; the tune, eval, review and gate runners are tested on their own.)"""
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "repo"
    root.mkdir()
    cache = tmp_path / "hub-cache"
    _sh(repo, sys.executable, "scripts/embedding_model.py", "--cache", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for rel in ("llmops.yaml", "specs", "data", "knowledge", ".dvc/config", ".dvcignore"):
        src = repo / rel
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    _sh(root, "git", "init", "-q")
    assert main(["-C", str(root), "compile"]) == 0
    _sh(root, "dvc", "repro", "prompt-support-rag")
    metrics = json.loads((root / "metrics/data-support.json").read_text())
    manifest = json.loads((root / "artifacts/datasets/support/manifest.json").read_text())
    assert manifest["rows"] == metrics["rows"] == sum(metrics["splits"].values()) > 100
    index = json.loads((root / "metrics/index-support-kb.json").read_text())
    assert index["chunks"] == index["embedded"] > 20 and index["dimensions"] == 384
    example = json.loads((root / "artifacts/prompts/support-rag/test.jsonl").read_text().splitlines()[0])
    assert len(example["passages"]) == 2 and example["passages"][0] in example["prompt"]

    with (root / "knowledge/shipping.md").open("a", encoding="utf-8") as article:
        article.write("\nParcels to Iceland travel by sea and take three weeks.\n")
    changed = _status(root)
    assert "index-support-kb" in changed and "data-support" not in changed
    out = _sh(root, "dvc", "repro", "prompt-support-rag")
    assert "Running stage 'index-support-kb'" in out and "Running stage 'prompt-support-rag'" in out
    assert "Running stage 'data-support'" not in out
    again = json.loads((root / "metrics/index-support-kb.json").read_text())
    assert 1 <= again["embedded"] <= 3 and again["reused"] >= index["chunks"] - 3
    assert again["chunks"] == again["embedded"] + again["reused"]


def test_a_failed_run_leaves_the_previous_outputs(project):
    """DVC deletes outputs before a stage runs unless they persist; ours do, and the runner
    swaps its output folder in whole, so a failure keeps the last good data in place."""
    out = project / "artifacts/datasets/faq"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    metrics_before = (project / "metrics/data-faq.json").read_bytes()
    with (project / "data/raw/faq.jsonl").open("a") as f:
        f.write("{not json\n")
    done = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "faq.jsonl" in done.stdout + done.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (project / "metrics/data-faq.json").read_bytes() == metrics_before


# -- sweeps: the trial names DVC gives a `matrix` stage are the compiler's --------------------

SWEEP_PROMPT = """\
kind: Prompt
name: qa
template: "Q: {{ text }}\\nA:"
variables: [text]
completion: answer
"""
SWEEP_FINETUNE = """\
kind: FineTune
name: bot
base_model: {path: models/base}
dataset: faq
prompt: qa
sweep:
  parameters:
    training.lr: [1.0e-05, 0.0001]
    training.packing: [true, false]
    training.scheduler: [linear, constant_with_warmup]
    training.epochs: [1, 2.5, 1e3]
  metric: eval.loss
resources: {gpus: 2}
"""
SMALL_SWEEP = """\
kind: FineTune
name: bot
base_model: {path: models/base}
dataset: faq
prompt: qa
sweep:
  parameters:
    training.lr: [1.0e-05, 0.0001]
    training.scheduler: [linear, constant_with_warmup]
  metric: eval.loss
"""
# Stands in for the tune runner, whose real one trains a model: writes what a tune stage
# writes, with an eval loss that is lowest for lr 0.0001 (the scheduler makes no difference, so
# the tie goes to the first in sweep order: linear).
FAKE_TUNE = """
import json
from pathlib import Path


def run(config, root):
    outputs = config.outputs
    out = Path(root) / outputs.outs[0]
    out.mkdir(parents=True, exist_ok=True)
    adapter = {"stage": config.stage, "trial": config.inputs.trial}
    (out / "adapter.json").write_text(json.dumps(adapter))
    loss = abs(config.spec.training.lr - 1e-4) * 1000
    metrics = Path(root) / outputs.metrics[0]
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"eval": {"loss": loss}, "train_loss": loss + 1}))
    plots = Path(root) / outputs.plots[0]
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "loss.csv").write_text("step,loss\\n1,%s\\n" % loss)
"""
SITECUSTOMIZE = """
import dataclasses

from llmops.compiler import catalog

catalog.KINDS["tune"] = dataclasses.replace(catalog.KINDS["tune"], runner="fake_tune")
"""


def _sweep_project(root: Path, finetune: str = SWEEP_FINETUNE) -> Path:
    assert main(["init", str(root)]) == 0
    _sh(root, "git", "init", "-q")
    config = root / "llmops.yaml"  # GPU trials run in their own jobs: results go through a remote
    config.write_text(config.read_text() + "storage:\n  remote:\n    url: /srv/dvc-remote\n")
    (root / "specs/prompts").mkdir(parents=True)
    (root / "specs/prompts/qa.yaml").write_text(SWEEP_PROMPT)
    (root / "specs/models").mkdir(parents=True)
    (root / "specs/models/bot.yaml").write_text(finetune)
    (root / "models/base").mkdir(parents=True)
    (root / "models/base/config.json").write_text("{}\n")
    assert main(["-C", str(root), "compile"]) == 0
    return root


def _trials(root: Path) -> list[str]:
    """The compiler's trial names, in sweep order."""
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import load_project

    _, graph = plan_graph(load_project(root))
    trials = [s for s in graph.order if s.matrix]
    return [s.name for s in sorted(trials, key=lambda s: s.matrix.index)]


def test_dvc_names_the_trials_of_a_sweep_as_the_compiler_does(tmp_path):
    root = _sweep_project(tmp_path / "p")
    trials = _trials(root)
    assert len(trials) == 2 * 2 * 2 * 3
    assert trials[:4] == [
        "trial-bot@1e-05-true-linear-1",
        "trial-bot@1e-05-true-linear-2.5",
        "trial-bot@1e-05-true-linear-1000.0",
        "trial-bot@1e-05-true-constant_with_warmup-1",
    ]
    listed = _sh(root, "dvc", "stage", "list", "--names-only").split()
    assert [n for n in listed if n.startswith("trial-bot@")] == trials
    assert set(listed) == {"data-faq", "tune-bot", *trials}
    for name in trials:  # each trial's params file exists under the name DVC will look for
        assert (root / f".llmops/stages/{name}.json").is_file()
    dry = _sh(root, "dvc", "repro", "--dry", "--force")
    ran = [line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage '")]
    assert sorted(ran) == sorted(["data-faq", "tune-bot", *trials])
    assert ran[0] == "data-faq" and ran[-1] == "tune-bot"
    one = _sh(root, "dvc", "repro", "--dry", "--force", "--single-item", trials[2])
    assert f"Running stage '{trials[2]}'" in one and "> llmops run " + trials[2] in one


def test_a_sweep_runs_picks_its_best_trial_and_reruns_only_what_changed(tmp_path):
    root = _sweep_project(tmp_path / "p", SMALL_SWEEP)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_tune.py").write_text(FAKE_TUNE)
    (fake / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": str(fake)}

    def repro() -> str:
        done = subprocess.run(
            ["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = repro()
    trials = _trials(root)
    assert all(f"Running stage '{t}'" in out for t in trials)
    best = "trial-bot@0.0001-linear"
    adapter = json.loads((root / "artifacts/models/bot/adapter.json").read_text())
    assert adapter["stage"] == best
    metrics = json.loads((root / "metrics/tune-bot.json").read_text())
    assert metrics["eval"]["loss"] == metrics["sweep"]["best_value"]
    assert metrics["sweep"]["best"] == best and len(metrics["sweep"]["trials"]) == len(trials)
    assert metrics["sweep"]["best_params"]["training.scheduler"] == "linear"
    report = (root / "reports/sweep-bot.md").read_text()
    assert f"`{best}`" in report and "ties the runner-up" in report
    assert _status(root) == {}

    # one more learning rate: only its trials and the selection run
    _edit(root / "specs/models/bot.yaml", "[1.0e-05, 0.0001]", "[1.0e-05, 0.0001, 0.001]")
    assert main(["-C", str(root), "compile"]) == 0
    new = [t for t in _trials(root) if t.startswith("trial-bot@0.001-")]
    assert len(new) == 2
    assert sorted(_status(root)) == sorted([*new, "tune-bot"])
    out = repro()
    assert sorted(
        line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")
    ) == sorted([*new, "tune-bot"])
    assert _status(root) == {}

    # a new goal changes only the selection
    _edit(root / "specs/models/bot.yaml", "metric: eval.loss", "metric: eval.loss\n  goal: maximize")
    assert main(["-C", str(root), "compile"]) == 0
    assert list(_status(root)) == ["tune-bot"]
    repro()
    assert json.loads((root / "metrics/tune-bot.json").read_text())["sweep"]["best"].startswith(
        "trial-bot@0.001-"
    )
