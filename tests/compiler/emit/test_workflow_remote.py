"""The DVC remote in the generated workflows: required when jobs must hand results on, its
credentials as job environment, the one-job pipeline without it; and a preinstalled llmops."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import llmops
from llmops.compiler.compile import Compiled
from llmops.compiler.emit import workflows as emit
from llmops.compiler.emit.workflows import (
    COMMIT_JOB,
    MAIN_WORKFLOW,
    MONITOR_WORKFLOW,
    PR_WORKFLOW,
    github_hosted,
    runner_extras,
    with_extras,
)
from llmops.compiler.layout import RESULTS_JOB
from llmops.errors import SpecError
from tests.compiler.emit.workflow_project import (
    METRICS_DIFF_RUN,
    REMOTE_ADD,
    REMOTE_LINE,
    RESULTS_GATES_RUN,
    SPECS,
    compile_at,
    cpu_only,
    edit,
    load_docs,
    run_step,
    runs,
    steps_of,
    write_project,
)

HINT = (
    "set `storage: {remote: {url: ...}}` in llmops.yaml: s3://, gs://, azure://, ssh:// "
    "or a folder every runner shares"
)
NEEDS_REMOTE = "the generated workflows need a DVC remote to hand results from job to job ("


def refusal(root: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        compile_at(root)
    assert len(info.value.diagnostics) == 1, info.value
    return info.value


# -- a remote is required where jobs hand results on ---------------------------------------------


def test_a_project_on_gpu_runners_without_a_remote_is_refused(tmp_path: Path, compiled: Compiled) -> None:
    error = refusal(write_project(tmp_path, remote=False))
    (diagnostic,) = error.diagnostics
    # no `storage` key at all: the file's start
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == ("llmops.yaml", 1, 1)
    assert diagnostic.field == "storage.remote"
    assert diagnostic.hint == HINT
    off_hosted = [s.name for s in compiled.graph.pipeline if not github_hosted(s.runs_on)]
    reasons = len(off_hosted) + 2  # and the two live Deployments
    assert off_hosted[:2] == ["base-tiny", "tune-tiny"]
    assert diagnostic.message == (
        NEEDS_REMOTE + "stage base-tiny runs on ['self-hosted', 'linux', 'gpu-a100']; "
        "stage tune-tiny runs on ['self-hosted', 'linux', 'gpu-a100']; "
        f"stage {off_hosted[2]} runs on ['self-hosted', 'linux', 'gpu-a100-x8']; and {reasons - 3} more)"
    )
    assert str(error).startswith("llmops.yaml:1:1: storage.remote: " + NEEDS_REMOTE)


def test_the_refusal_points_at_the_storage_key(tmp_path: Path) -> None:
    root = write_project(tmp_path, remote=False)
    edit(root, "llmops.yaml", "governance:\n", "storage: {}\ngovernance:\n")
    (diagnostic,) = refusal(root).diagnostics
    lines = (root / "llmops.yaml").read_text().splitlines()
    assert (diagnostic.line, diagnostic.col) == (lines.index("storage: {}") + 1, 1)
    assert diagnostic.field == "storage.remote"


def test_a_deployment_needs_a_remote_even_on_hosted_runners(tmp_path: Path) -> None:
    root = cpu_only(tmp_path, remote=False)
    (root / "specs/canary.yaml").write_text(SPECS["specs/canary.yaml"].format())
    (diagnostic,) = refusal(root).diagnostics
    assert diagnostic.message == NEEDS_REMOTE + "Deployment canary deploys from CI)"
    assert diagnostic.hint == HINT


@pytest.mark.parametrize("labels", ["[GPU-A100]", "[Self-Hosted]", "[ubuntu-latest, big-runner]"])
def test_a_stage_on_a_custom_label_needs_a_remote(tmp_path: Path, labels: str) -> None:
    root = cpu_only(tmp_path, remote=False)
    edit(
        root, "specs/eval.yaml", "dataset: support\n", f"dataset: support\nresources: {{labels: {labels}}}\n"
    )
    (diagnostic,) = refusal(root).diagnostics
    shown = str(yaml.safe_load(labels))
    assert diagnostic.message == NEEDS_REMOTE + f"stage eval-quality runs on {shown})"


def test_mixed_case_hosted_labels_need_no_remote(tmp_path: Path) -> None:
    root = cpu_only(tmp_path, remote=False)
    edit(root, "llmops.yaml", "cpu: [ubuntu-latest]", "cpu: [Ubuntu-Latest]")
    edit(
        root,
        "specs/eval.yaml",
        "dataset: support\n",
        "dataset: support\nresources: {labels: [UBUNTU-24.04]}\n",
    )
    docs = load_docs(compile_at(root))
    assert list(docs[PR_WORKFLOW]["jobs"]) == ["validate", RESULTS_JOB, COMMIT_JOB]


# -- without a remote: one job runs the whole pipeline -------------------------------------------


def test_a_cpu_only_project_without_a_remote_runs_one_pipeline_job(tmp_path: Path) -> None:
    compiled = compile_at(cpu_only(tmp_path, remote=False))
    docs = load_docs(compiled)
    assert sorted(docs) == sorted([PR_WORKFLOW, MAIN_WORKFLOW])  # nothing deployed, nothing watched
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert list(jobs) == ["validate", RESULTS_JOB, COMMIT_JOB]
    job = jobs[RESULTS_JOB]
    assert job["needs"] == ["validate"] and job["if"] == "!cancelled() && needs.validate.result == 'success'"
    assert job["timeout-minutes"] == 360  # it runs every stage
    steps = steps_of(job)
    assert [s.get("name") for s in steps] == [
        "Check out the repository",
        "Install llmops",
        "Run the pipeline",
        "Policy gates on CI's results",
        "Metrics diff against the base commit",
        "Compare with the results the pull request carries",
    ]
    assert [s.get("run") for s in steps[2:5]] == ["dvc repro", RESULTS_GATES_RUN, METRICS_DIFF_RUN]
    # the compare step hands on a patch only when the whole pipeline ran
    assert steps[2]["id"] == "gather"
    assert steps[5]["if"] == "!cancelled() && steps.gather.outcome == 'success'"
    extras = tuple(sorted({e for s in compiled.graph.pipeline for e in runner_extras(s)}))
    assert extras and steps[1]["env"]["LLMOPS_REQUIREMENT"] == with_extras("llmops-gitops==0.1.0", extras)
    assert list(docs[MAIN_WORKFLOW]["jobs"]) == ["validate"]
    for path, doc in docs.items():
        scripts = runs(doc)
        assert scripts.count("dvc repro") == (1 if path == PR_WORKFLOW else 0), path
        for script in scripts:
            assert not script.startswith(
                ("llmops results pull", "llmops results push", "dvc pull", "dvc push")
            )
            assert script not in (REMOTE_ADD, "llmops results collect"), path
        for job_id, each in doc["jobs"].items():
            assert "env" not in each, (path, job_id)  # no stage of its own and no secrets


def test_a_cpu_only_project_with_a_remote_runs_a_job_per_stage(tmp_path: Path) -> None:
    compiled = compile_at(cpu_only(tmp_path, remote=True))
    jobs = load_docs(compiled)[PR_WORKFLOW]["jobs"]
    stage_jobs = list(dict.fromkeys(emit.job_id(s) for s in compiled.graph.pipeline))
    assert list(jobs) == ["validate", *stage_jobs, RESULTS_JOB, COMMIT_JOB]
    assert "llmops results collect" in [s.get("run") for s in steps_of(jobs[RESULTS_JOB])]
    assert not any("if" in jobs[j] for j in ["validate", *stage_jobs])  # all on hosted runners


# -- the remote's credentials ---------------------------------------------------------------------


def secrets_env(*names: str) -> dict[str, str]:
    return {name: f"${{{{ secrets.{name} }}}}" for name in names}


def assert_secrets_where_the_remote_is_used(
    docs: dict[str, dict[str, Any]], expected: dict[str, str]
) -> None:
    """Every job that reads or writes the remote has exactly those secrets in its env, and no
    other job has any."""
    checked = 0
    for path, doc in docs.items():
        for job_id, job in doc["jobs"].items():
            uses_remote = REMOTE_ADD in [s.get("run") for s in steps_of(job)]
            env = dict(job.get("env", {}))
            env.pop("LLMOPS_STAGE", None)
            assert env == (expected if uses_remote else {}), (path, job_id)
            checked += uses_remote
            for step in steps_of(job):  # the remote's secrets are set once, on the job
                assert not set(step.get("env", {})) & set(expected), (path, job_id, step.get("name"))
    assert checked > 10  # stage jobs, the results job, deploys and monitors


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("s3://demo-bucket/llmops", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
        ("azure://container/llmops", ("AZURE_STORAGE_CONNECTION_STRING",)),
        ("gs://demo-bucket/llmops", ()),
        ("ssh://runner.example/srv/dvc", ()),
        ("/srv/shared/dvc", ()),
    ],
)
def test_remote_secrets_default_by_the_urls_scheme(tmp_path: Path, url: str, names: tuple[str, ...]) -> None:
    root = write_project(tmp_path)
    edit(root, "llmops.yaml", "s3://demo-bucket/llmops", url)
    docs = load_docs(compile_at(root))
    assert_secrets_where_the_remote_is_used(docs, secrets_env(*names))
    if not names:
        assert "env" not in docs[PR_WORKFLOW]["jobs"][RESULTS_JOB]
    assert MONITOR_WORKFLOW in docs


@pytest.mark.parametrize("listed", [["STORE_KEY_ID", "STORE_SECRET_2"], []])
def test_listed_remote_secrets_replace_the_defaults(tmp_path: Path, listed: list[str]) -> None:
    root = write_project(tmp_path)
    edit(
        root,
        "llmops.yaml",
        REMOTE_LINE,
        REMOTE_LINE.replace("}\n", f", secrets: {listed}}}\n".replace("'", "")),
    )
    docs = load_docs(compile_at(root))
    assert_secrets_where_the_remote_is_used(docs, secrets_env(*listed))
    assert "AWS_ACCESS_KEY_ID" not in yaml.safe_dump(docs)


@pytest.mark.parametrize("name", ["aws_key", "1KEY", "KEY-ID", "KEY }}${{ github.token", "A" * 65])
def test_a_bad_secret_name_is_a_validation_error(tmp_path: Path, name: str) -> None:
    root = write_project(tmp_path)
    edit(root, "llmops.yaml", REMOTE_LINE, REMOTE_LINE.replace("}\n", f", secrets: [OK_NAME, {name!r}]}}\n"))
    error = refusal(root)
    (diagnostic,) = error.diagnostics
    assert diagnostic.file == "llmops.yaml" and diagnostic.field == "storage.remote.secrets[1]"
    lines = (root / "llmops.yaml").read_text().splitlines()
    assert diagnostic.line == 1 + next(i for i, line in enumerate(lines) if line.startswith("  remote:"))
    assert "should match pattern" in diagnostic.message


def test_the_template_filter_also_refuses_a_bad_secret_name() -> None:
    """Defence in depth: a name reaches `${{ secrets.NAME }}` bare, so the filter re-checks it."""
    assert emit._secret_name("AWS_ACCESS_KEY_ID") == "AWS_ACCESS_KEY_ID"
    for bad in ("KEY }}${{ github.token", "key", "", 7):
        with pytest.raises(ValueError, match="not a secret name"):
            emit._secret_name(bad)


# -- ci.install: preinstalled ---------------------------------------------------------------------

VERSION_CHECK = "Check the runner's llmops"


@pytest.fixture(scope="module")
def preinstalled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = write_project(tmp_path_factory.mktemp("preinstalled"))
    edit(root, "llmops.yaml", "ci:\n", "ci:\n  install: preinstalled\n")
    return load_docs(compile_at(root))


def test_preinstalled_llmops_is_checked_never_installed(preinstalled: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for path, doc in preinstalled.items():
        for job_id, job in doc["jobs"].items():
            steps = steps_of(job)
            assert "Install llmops" not in [s.get("name") for s in steps], (path, job_id)
            for script in (s.get("run", "") for s in steps):
                assert not re.search(r"\bpip\b|\bvenv\b|LLMOPS_REQUIREMENT", script), (path, job_id)
            if job_id == COMMIT_JOB:
                assert VERSION_CHECK not in [s.get("name") for s in steps]  # it runs no llmops
                continue
            assert steps[1]["name"] == VERSION_CHECK, (path, job_id)
            assert steps[1]["env"] == {"LLMOPS_VERSION": llmops.__version__}
            checked += 1
    assert checked == sum(len(doc["jobs"]) for doc in preinstalled.values()) - 1


@pytest.mark.parametrize(
    ("reports", "ok"),
    [(f"llmops {llmops.__version__}", True), ("llmops 0.0.0-other", False), (None, False)],
)
def test_the_version_check_passes_only_for_the_compiled_version(
    tmp_path: Path, preinstalled: dict[str, dict[str, Any]], reports: str | None, ok: bool
) -> None:
    step = steps_of(preinstalled[PR_WORKFLOW]["jobs"]["validate"])[1]
    fakes = tmp_path / "bin"
    fakes.mkdir()
    if reports is not None:
        (fakes / "llmops").write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "{reports}"\n')
        (fakes / "llmops").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    proc = run_step(step["run"], step["env"], work, path=[fakes])
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
    if reports is not None and not ok:
        assert f"::error::this runner has '{reports}'" in proc.stdout
