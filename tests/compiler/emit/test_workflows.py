"""The generated GitHub Actions workflows: shape, graph fidelity, and the real linters' verdict.

The linters (zizmor, actionlint + shellcheck, check-jsonschema) are the dev dependencies in
`.venv/bin`; a missing one fails the test instead of skipping it, because a skipped security
check looks exactly like a passing one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.compiler.compile import Compiled, compile_project
from llmops.compiler.emit.workflows import MAIN_WORKFLOW, MONITOR_WORKFLOW, PR_WORKFLOW, emit_workflows
from llmops.compiler.emit.workflows import job_id as job_of
from llmops.compiler.parse import load_project

REMOTE_ADD = 'dvc remote add --local --force --default "$DVC_REMOTE_NAME" "$DVC_REMOTE_URL"'
CHECKOUT = re.compile(r"^actions/checkout@[0-9a-f]{40}$")
HOSTILE = "Pwn $(id) and `uname -a` via ${{ github.event.issue.title }}; echo ${HOME}"
SAME_REPO_CONDITION = "github.event.pull_request.head.repo.full_name == github.repository"
HOSTILE_MARKERS = ("$(id)", "`uname", "github.event.issue.title", "${HOME}", "Pwn")

PROJECT = """\
apiVersion: llmops/v1
kind: Project
name: demo
description: {hostile}
defaults:
  runners:
    cpu: [ubuntu-latest]
    gpu: [self-hosted, linux, gpu-a100]
    multi_gpu: [self-hosted, linux, gpu-a100-x8]
storage:
  remote: {{name: storage, url: "s3://demo-bucket/llmops"}}
governance:
  main_branch: trunk
ci:
  llmops_requirement: "llmops-gitops==0.1.0"
  python: python3.12
"""

SPECS = {
    "specs/data.yaml": """\
kind: Dataset
name: support
description: {hostile}
sources:
  - path: data/raw/support.jsonl
    fields: {{text: question, answer: answer}}
    provenance: {{origin: {hostile}}}
""",
    "specs/prompt.yaml": """\
kind: Prompt
name: qa
description: {hostile}
tags: {{team: {hostile_label}}}
dataset: support
template: "Q: {{{{ text }}}} -- {hostile_inline}"
variables: [text]
completion: answer
""",
    "specs/finetune.yaml": """\
kind: FineTune
name: tiny
description: {hostile}
base_model:
  build: {{tokenizer_dataset: support, config: {{hidden_size: 16}}}}
dataset: support
prompt: qa
resources: {{gpus: 1, timeout_minutes: 90}}
""",
    "specs/sweep.yaml": """\
kind: FineTune
name: wide
description: {hostile}
base_model: {{finetune: tiny}}
dataset: support
prompt: qa
sweep:
  parameters:
    training.lr: [1.0e-05, 0.0001]
    method.type: [lora, prompt-tuning]
    training.packing: [true, false]
  metric: eval_loss
resources: {{gpus: 4, strategy: fsdp}}
""",
    "specs/eval.yaml": """\
kind: EvalSuite
name: quality
description: {hostile}
models: [{{finetune: tiny}}]
baselines: [{{base_of: tiny}}]
dataset: support
prompt: qa
metrics: [{{name: exact_match}}]
""",
    "specs/policy.yaml": """\
kind: Policy
name: release
description: {hostile}
applies_to: {{finetunes: [tiny]}}
rules:
  - {{type: threshold, suite: quality, metric: exact_match, min: 0.1}}
review:
  bias: {{templates: ["{hostile_inline}"]}}
""",
    "specs/deploy.yaml": """\
kind: Deployment
name: bot
description: {hostile}
model: {{finetune: tiny}}
environment: production
policies: [release]
smoke_tests: [{{prompt: {hostile}}}]
monitoring: {{schedule: "0 6 * * *"}}
""",
    "specs/canary.yaml": """\
kind: Deployment
name: canary
model: {{finetune: tiny}}
environment: staging
monitoring: {{schedule: "30 5 * * 1"}}
""",
    "specs/retired.yaml": """\
kind: Deployment
name: old-bot
description: {hostile}
model: {{finetune: tiny}}
environment: production
status: retired
monitoring: {{schedule: "0 1 * * *"}}
""",
}


# -- helpers ------------------------------------------------------------------------------------


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the venv's copy of a checker; a missing one fails, since a skip would read as a pass."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.fail(f"{name} is not installed (expected next to {sys.executable}); install the dev extra")
    env = {**os.environ, "PATH": path}  # actionlint finds the venv's shellcheck
    return subprocess.run([found, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False)


def write_project(root: Path, *, remote: bool = True) -> Path:
    quoted = yaml.safe_dump(HOSTILE, default_style='"').strip()
    values = {"hostile": quoted, "hostile_label": quoted, "hostile_inline": HOSTILE.replace('"', "")}
    project = PROJECT.format(**values)
    if not remote:
        project = re.sub(r"storage:\n  remote: .*\n", "", project)
    (root / "llmops.yaml").write_text(project)
    for rel, text in SPECS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values))
    return root


def compile_at(root: Path) -> Compiled:
    return compile_project(load_project(root))


def workflows(compiled: Compiled) -> dict[str, str]:
    return {p: t for p, t in compiled.files.items() if p.startswith(".github/workflows/")}


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def runs(doc: dict[str, Any]) -> list[str]:
    return [s["run"] for job in doc["jobs"].values() for s in steps_of(job) if "run" in s]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def compiled(project: Path) -> Compiled:
    return compile_at(project)


@pytest.fixture(scope="module")
def docs(compiled: Compiled) -> dict[str, dict[str, Any]]:
    return {path: yaml.safe_load(text) for path, text in workflows(compiled).items()}


@pytest.fixture(scope="module")
def written(project: Path, compiled: Compiled) -> list[Path]:
    """The workflows on disk, with an actionlint config naming the project's self-hosted labels."""
    labels = sorted({"linux", "gpu-a100", "gpu-a100-x8"})
    (project / ".github").mkdir(exist_ok=True)
    (project / ".github/actionlint.yaml").write_text(
        yaml.safe_dump({"self-hosted-runner": {"labels": labels}})
    )
    for rel, text in workflows(compiled).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text, encoding="utf-8")
    return sorted(project / rel for rel in workflows(compiled))


# -- which files ---------------------------------------------------------------------------------


def test_monitor_workflow_only_when_something_is_monitored(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    for rel in ("specs/deploy.yaml", "specs/canary.yaml", "specs/retired.yaml"):
        (root / rel).unlink()
    files = workflows(compile_at(root))
    assert sorted(files) == sorted([PR_WORKFLOW, MAIN_WORKFLOW])
    main = yaml.safe_load(files[MAIN_WORKFLOW])
    assert not any(job.get("environment") for job in main["jobs"].values())


def test_emits_three_workflows_deterministically(project: Path, compiled: Compiled) -> None:
    assert sorted(workflows(compiled)) == sorted([PR_WORKFLOW, MAIN_WORKFLOW, MONITOR_WORKFLOW])
    again = compile_at(project)
    assert workflows(again) == workflows(compiled)
    assert emit_workflows(again.index, again.graph) == emit_workflows(compiled.index, compiled.graph)


def test_every_file_starts_with_the_generated_header(compiled: Compiled) -> None:
    for text in workflows(compiled).values():
        assert text.startswith("# generated by llmops")
        assert text.endswith("\n") and not text.endswith("\n\n")
        assert "\n\n" not in text


# -- security shape -------------------------------------------------------------------------------


def test_permissions_are_empty_and_jobs_read_only_and_named(docs: dict[str, dict[str, Any]]) -> None:
    """Read-only everywhere; only the jobs that enforce approvals (the main branch's validate job
    and deploy jobs) may also read pull requests, for their reviews."""
    readers = set()
    for path, doc in docs.items():
        assert doc["permissions"] == {} and doc["name"], path
        for job_id, job in doc["jobs"].items():
            assert job["name"], (path, job_id)
            if job["permissions"] == {"contents": "read", "pull-requests": "read"}:
                readers.add((path, job_id))
            else:
                assert job["permissions"] == {"contents": "read"}, (path, job_id)
    main = ".github/workflows/llmops-main.yml"
    deploys = {(main, j) for j in docs[main]["jobs"] if j.startswith("deploy-")}
    assert deploys and readers == {(main, "validate")} | deploys


def test_the_main_branch_enforces_approvals_before_anything_acts(docs: dict[str, dict[str, Any]]) -> None:
    main = docs[".github/workflows/llmops-main.yml"]
    validate = main["jobs"]["validate"]
    names = [s.get("name") for s in validate["steps"]]
    step = validate["steps"][names.index("Check the commit arrived through an approved pull request")]
    assert names.index(step["name"]) < names.index("Validate the specs")
    assert step["run"].startswith('llmops enforce "$GITHUB_SHA"')
    assert step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert validate["steps"][0]["with"]["fetch-depth"] == 0
    for job_id, job in main["jobs"].items():
        if job_id != "validate":
            assert "validate" in job["needs"], job_id
        if job_id.startswith("deploy-"):
            assert job["steps"][0]["with"]["fetch-depth"] == 0
            assert job["steps"][-1]["run"] == 'llmops run "$LLMOPS_STAGE"'
            assert job["steps"][-1]["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
            assert job["concurrency"]["cancel-in-progress"] is False


def test_only_checkout_is_used_and_pinned_without_credentials(docs: dict[str, dict[str, Any]]) -> None:
    for doc in docs.values():
        for job in doc["jobs"].values():
            uses = [s for s in steps_of(job) if "uses" in s]
            assert len(uses) == 1
            assert CHECKOUT.match(uses[0]["uses"])
            assert uses[0]["with"]["persist-credentials"] is False


def test_run_scripts_are_fixed_text_reading_quoted_env(docs: dict[str, dict[str, Any]]) -> None:
    for doc in docs.values():
        for script in runs(doc):
            assert "${{" not in script
            assert "tiny" not in script and "support" not in script and "s3://" not in script
            outside_quotes = script.split('"')[::2]
            assert not any("$" in part for part in outside_quotes), f"unquoted variable in {script!r}"


def test_hostile_free_text_never_reaches_a_workflow(compiled: Compiled) -> None:
    assert compiled.index.get("Dataset", "support").spec.description == HOSTILE  # it did load
    for text in workflows(compiled).values():
        for marker in HOSTILE_MARKERS:
            assert marker not in text


# -- graph fidelity -------------------------------------------------------------------------------


def test_pr_jobs_follow_the_graph(compiled: Compiled, docs: dict[str, dict[str, Any]]) -> None:
    jobs = docs[PR_WORKFLOW]["jobs"]
    pipeline = compiled.graph.pipeline
    assert list(jobs) == ["validate", *dict.fromkeys(job_of(s) for s in pipeline), "metrics-diff"]
    for stage in pipeline:
        job = jobs[job_of(stage)]
        assert job["needs"] == [
            "validate",
            *dict.fromkeys(job_of(compiled.graph.stage(u)) for u in stage.upstream),
        ]
        if stage.matrix:
            assert stage.name in job["strategy"]["matrix"]["stage"]
            assert job["env"]["LLMOPS_STAGE"] == "${{ matrix.stage }}"
        else:
            assert job["env"]["LLMOPS_STAGE"] == stage.name
        assert job["timeout-minutes"] == stage.timeout_minutes
        assert job["runs-on"] == list(stage.runs_on)
    assert jobs["tune-tiny"]["needs"] == ["validate", "base-tiny", "data-support", "prompt-qa"]
    assert jobs["gate-release"]["needs"] == ["validate", "eval-quality", "review-release"]


def test_gpu_stages_run_on_gpu_labels(docs: dict[str, dict[str, Any]]) -> None:
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert jobs["tune-tiny"]["runs-on"] == ["self-hosted", "linux", "gpu-a100"]
    assert jobs["tune-tiny"]["timeout-minutes"] == 90
    assert jobs["tune-tiny"]["if"] == SAME_REPO_CONDITION
    assert "if" not in jobs["data-support"]
    assert jobs["data-support"]["runs-on"] == ["ubuntu-latest"]
    assert jobs["validate"]["runs-on"] == ["ubuntu-latest"]


def test_pr_workflow_steps(docs: dict[str, dict[str, Any]]) -> None:
    doc = docs[PR_WORKFLOW]
    assert doc[True] == {"pull_request": {"branches": ["trunk"]}}  # PyYAML reads `on` as True
    assert doc["concurrency"] == {"group": "llmops-pr-${{ github.ref }}", "cancel-in-progress": True}
    validate = steps_of(doc["jobs"]["validate"])
    scripts = [s.get("run") for s in validate]
    assert "llmops validate" in scripts and "llmops compile --check" in scripts
    plan = validate[-1]
    assert plan["run"] == 'llmops plan --base "origin/$BASE_REF" --format markdown >> "$GITHUB_STEP_SUMMARY"'
    assert plan["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert validate[0]["with"]["fetch-depth"] == 0
    stage = doc["jobs"]["eval-quality"]
    assert stage["env"] == {"LLMOPS_STAGE": "eval-quality"}
    assert [s.get("run") for s in steps_of(stage)][2:] == [
        REMOTE_ADD,
        "dvc pull --allow-missing",
        'dvc repro "$LLMOPS_STAGE"',
        "dvc push",
    ]


def test_remote_comes_from_env_not_the_run_line(docs: dict[str, dict[str, Any]]) -> None:
    step = steps_of(docs[PR_WORKFLOW]["jobs"]["eval-quality"])[2]
    assert step["run"] == REMOTE_ADD
    assert step["env"] == {"DVC_REMOTE_NAME": "storage", "DVC_REMOTE_URL": "s3://demo-bucket/llmops"}


def test_install_step_reads_requirement_and_python_from_env(docs: dict[str, dict[str, Any]]) -> None:
    install = steps_of(docs[PR_WORKFLOW]["jobs"]["validate"])[1]
    assert install["env"] == {"LLMOPS_PYTHON": "python3.12", "LLMOPS_REQUIREMENT": "llmops-gitops==0.1.0"}
    assert '"$RUNNER_TEMP/llmops-venv"' in install["run"]
    assert '"$LLMOPS_REQUIREMENT"' in install["run"]
    assert '>> "$GITHUB_PATH"' in install["run"]


def test_default_requirement_is_this_llmops_version(tmp_path: Path) -> None:
    import llmops

    root = write_project(tmp_path)
    text = (root / "llmops.yaml").read_text().replace('  llmops_requirement: "llmops-gitops==0.1.0"\n', "")
    (root / "llmops.yaml").write_text(text)
    doc = yaml.safe_load(workflows(compile_at(root))[PR_WORKFLOW])
    install = steps_of(doc["jobs"]["validate"])[1]
    assert install["env"]["LLMOPS_REQUIREMENT"] == f"llmops-gitops=={llmops.__version__}"


def test_without_a_remote_there_is_no_pull_or_push(tmp_path: Path) -> None:
    files = workflows(compile_at(write_project(tmp_path, remote=False)))
    for text in files.values():
        doc = yaml.safe_load(text)
        assert not any(script.startswith("dvc pull") or script == "dvc push" for script in runs(doc))


def test_main_workflow(compiled: Compiled, docs: dict[str, dict[str, Any]]) -> None:
    doc = docs[MAIN_WORKFLOW]
    assert doc[True] == {"push": {"branches": ["trunk"]}, "workflow_dispatch": {}}
    assert doc["concurrency"] == {"group": "llmops-main", "cancel-in-progress": False}
    jobs = doc["jobs"]
    pipeline = list(dict.fromkeys(job_of(s) for s in compiled.graph.pipeline))
    assert list(jobs) == ["validate", *pipeline, "deploy-canary", "deploy-bot"]  # graph order
    assert "llmops plan" not in "\n".join(s.get("run", "") for s in steps_of(jobs["validate"]))
    assert [s.get("run") for s in steps_of(jobs["tune-tiny"])][2:] == [
        REMOTE_ADD,
        "dvc pull --allow-missing",
        'dvc repro "$LLMOPS_STAGE"',
        "dvc push",
    ]
    bot = jobs["deploy-bot"]
    assert bot["environment"] == "production"
    assert bot["needs"] == ["validate", "gate-release", "tune-tiny"]
    assert bot["concurrency"] == {"group": "llmops-deploy-bot", "cancel-in-progress": False}
    assert bot["if"] == "github.ref == 'refs/heads/trunk'"
    assert steps_of(bot)[-1]["run"] == 'llmops run "$LLMOPS_STAGE"'
    assert bot["env"] == {"LLMOPS_STAGE": "deploy-bot"}
    assert jobs["deploy-canary"]["needs"] == ["validate", "tune-tiny"]


def test_retired_deployment_has_no_job(docs: dict[str, dict[str, Any]]) -> None:
    for doc in docs.values():
        assert not any("old-bot" in job_id for job_id in doc["jobs"])


def test_monitor_workflow(docs: dict[str, dict[str, Any]]) -> None:
    doc = docs[MONITOR_WORKFLOW]
    assert doc[True] == {
        "schedule": [{"cron": "0 6 * * *"}, {"cron": "30 5 * * 1"}],
        "workflow_dispatch": {},
    }
    jobs = doc["jobs"]
    assert list(jobs) == ["monitor-canary", "monitor-bot"]  # graph order
    assert jobs["monitor-bot"]["if"] == (
        "github.event_name == 'workflow_dispatch' || github.event.schedule == '0 6 * * *'"
    )
    assert steps_of(jobs["monitor-bot"])[-1]["run"] == 'llmops run "$LLMOPS_STAGE"'
    assert "needs" not in jobs["monitor-bot"]


# -- sweeps and multi-GPU stages ---------------------------------------------------------------


def test_sweep_trials_run_as_one_matrix_job_in_sweep_order(
    compiled: Compiled, docs: dict[str, dict[str, Any]]
) -> None:
    trials = [s for s in compiled.graph.pipeline if s.matrix and s.matrix.group == "trial-wide"]
    names = [s.name for s in sorted(trials, key=lambda s: s.matrix.index)]  # type: ignore[union-attr]
    assert names[:3] == [
        "trial-wide@1e-05-lora-true",
        "trial-wide@1e-05-lora-false",
        "trial-wide@1e-05-prompt-tuning-true",
    ]
    assert len(names) == 8
    for path, doc in docs.items():
        if path == MONITOR_WORKFLOW:
            continue
        jobs = doc["jobs"]
        assert not any("@" in job_id or "." in job_id for job_id in jobs)
        job = jobs["trial-wide"]
        assert job["strategy"] == {"fail-fast": False, "matrix": {"stage": names}}
        assert job["env"]["LLMOPS_STAGE"] == "${{ matrix.stage }}"
        assert job["needs"] == ["validate", "data-support", "prompt-qa", "tune-tiny"]
        assert [s.get("run") for s in steps_of(job)][4] == 'dvc repro "$LLMOPS_STAGE"'
        # the selection stage waits for every trial, and what used the model waits for it
        assert jobs["tune-wide"]["needs"] == ["validate", "trial-wide"]
        assert jobs["tune-wide"]["env"]["LLMOPS_STAGE"] == "tune-wide"
        assert jobs["tune-wide"]["runs-on"] == ["ubuntu-latest"]


def test_multi_gpu_stages_run_on_multi_gpu_labels(
    compiled: Compiled, docs: dict[str, dict[str, Any]]
) -> None:
    jobs = docs[MAIN_WORKFLOW]["jobs"]
    assert jobs["trial-wide"]["runs-on"] == ["self-hosted", "linux", "gpu-a100-x8"]
    assert "if" not in jobs["trial-wide"]  # main runs every job; the PR workflow keeps forks off
    assert docs[PR_WORKFLOW]["jobs"]["trial-wide"]["if"] == SAME_REPO_CONDITION
    assert jobs["tune-tiny"]["runs-on"] == ["self-hosted", "linux", "gpu-a100"]  # one GPU
    trial = next(s for s in compiled.graph.pipeline if s.matrix and s.matrix.group == "trial-wide")
    assert trial.params()["spec"]["resources"] == {"gpus": 4, "strategy": "fsdp"}


def test_multi_gpu_labels_fall_back_to_gpu_labels(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    text = (
        (root / "llmops.yaml").read_text().replace("    multi_gpu: [self-hosted, linux, gpu-a100-x8]\n", "")
    )
    (root / "llmops.yaml").write_text(text)
    doc = yaml.safe_load(workflows(compile_at(root))[MAIN_WORKFLOW])
    assert doc["jobs"]["trial-wide"]["runs-on"] == ["self-hosted", "linux", "gpu-a100"]


# -- the metrics diff on the pull request -------------------------------------------------------

METRICS_DIFF_RUN = 'llmops metrics diff --base "$LLMOPS_BASE_SHA" --format markdown >> "$GITHUB_STEP_SUMMARY"'


def test_pr_workflow_ends_with_the_metrics_diff_job(
    compiled: Compiled, docs: dict[str, dict[str, Any]]
) -> None:
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert list(jobs)[-1] == "metrics-diff"
    job = jobs["metrics-diff"]
    stage_jobs = list(dict.fromkeys(job_of(s) for s in compiled.graph.pipeline))
    assert job["needs"] == ["validate", *stage_jobs]  # after every stage job
    assert job["if"] == "!cancelled()"  # also after a failed or skipped (fork) stage
    assert job["runs-on"] == ["ubuntu-latest"]
    assert job["permissions"] == {"contents": "read"}
    assert "env" not in job and "environment" not in job
    steps = steps_of(job)
    assert CHECKOUT.match(steps[0]["uses"])
    assert steps[0]["with"] == {"persist-credentials": False, "fetch-depth": 0}  # the base commit
    assert steps[-1]["run"] == METRICS_DIFF_RUN
    assert steps[-1]["env"] == {"LLMOPS_BASE_SHA": "${{ github.event.pull_request.base.sha }}"}
    assert all("${{" not in script for script in runs(docs[PR_WORKFLOW]))


def test_the_summary_step_is_in_the_pr_workflow_only(docs: dict[str, dict[str, Any]]) -> None:
    for path, doc in docs.items():
        scripts = runs(doc)
        assert scripts.count(METRICS_DIFF_RUN) == (1 if path == PR_WORKFLOW else 0), path
        assert not any(script.startswith("dvc metrics diff") for script in scripts), path


def test_pr_stage_jobs_need_no_history(docs: dict[str, dict[str, Any]]) -> None:
    for job_id, job in docs[PR_WORKFLOW]["jobs"].items():
        depth = steps_of(job)[0]["with"]["fetch-depth"]
        assert depth == (0 if job_id in ("validate", "metrics-diff") else 1), job_id


def test_no_metrics_diff_job_without_metrics(tmp_path: Path) -> None:
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: empty\n")
    (tmp_path / "specs").mkdir()
    doc = yaml.safe_load(workflows(compile_at(tmp_path))[PR_WORKFLOW])
    assert list(doc["jobs"]) == ["validate"]
    assert METRICS_DIFF_RUN not in runs(doc)


# -- the real checkers ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(written: list[Path], persona: str) -> None:
    proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", persona, *map(str, written))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_actionlint_with_shellcheck_passes(project: Path, written: list[Path]) -> None:
    shellcheck = run_tool("shellcheck", "--version")
    assert shellcheck.returncode == 0, shellcheck.stderr
    config = str(project / ".github/actionlint.yaml")
    proc = run_tool("actionlint", "-config-file", config, *map(str, written), cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_github_workflow_schema_passes(written: list[Path]) -> None:
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, written))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stage_jobs_install_the_extras_their_runner_needs():
    from llmops.compiler.emit.workflows import with_extras

    assert with_extras(".", ("train",)) == ".[train]"
    assert with_extras(".[data]", ("eval", "train")) == ".[data,eval,train]"
    assert with_extras("llmops==0.2.0", ("train",)) == "llmops[train]==0.2.0"
    assert with_extras("llmops[train]>=0.2", ("eval", "train")) == "llmops[eval,train]>=0.2"
    assert with_extras("llmops", ()) == "llmops"
    assert with_extras("llmops-gitops==0.2.0", ("train",)) == "llmops-gitops[train]==0.2.0"


def test_generated_jobs_carry_runner_extras():
    expected = Path(__file__).parents[2] / "fixtures/projects/full/expected/.github/workflows/llmops-pr.yml"
    text = expected.read_text()
    assert 'LLMOPS_REQUIREMENT: "llmops-gitops[train]==0.1.0"' in text  # the built base and LoRA
    assert 'LLMOPS_REQUIREMENT: "llmops-gitops[deepspeed,qlora,train]==0.1.0"' in text  # QLoRA sweep, 2 GPUs
    assert 'LLMOPS_REQUIREMENT: "llmops-gitops[eval,train]==0.1.0"' in text
    assert 'LLMOPS_REQUIREMENT: "llmops-gitops==0.1.0"' in text  # validate and the metrics diff


GATE_RUN = 'llmops gate "$LLMOPS_POLICY" --format markdown --annotations >> "$GITHUB_STEP_SUMMARY"'


def test_pr_gate_job_writes_the_rule_table_and_annotations(docs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(docs[PR_WORKFLOW]["jobs"]["gate-release"])
    runs_ = [s.get("run") for s in steps]
    assert runs_.index('dvc repro "$LLMOPS_STAGE"') < runs_.index(GATE_RUN) == len(steps) - 1
    gate = steps[-1]
    assert gate["env"] == {"LLMOPS_POLICY": "release"}
    assert gate["if"] == "!cancelled()"  # a failed gate stage still gets its table
    for path, doc in docs.items():
        expected = 1 if path == PR_WORKFLOW else 0
        assert runs(doc).count(GATE_RUN) == expected, path
        for job_id, job in doc["jobs"].items():
            if not job_id.startswith("gate-"):
                assert GATE_RUN not in [s.get("run") for s in steps_of(job)], job_id
