"""Pull requests from forks never run project code on runners outside GitHub's hosted set.

GitHub compares `runs-on` labels case-insensitively, and any label it does not host (a custom
`gpu-a100` alone, `Self-Hosted`, a larger runner's name) picks a machine the project owns; every
such job of the pull-request workflow must carry the same-repository guard, while jobs on hosted
runners stay unguarded so a fork's pull request is still validated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.emit.workflows import (
    COMMIT_JOB,
    MAIN_WORKFLOW,
    MONITOR_WORKFLOW,
    PR_WORKFLOW,
    github_hosted,
)
from llmops.compiler.layout import RESULTS_JOB
from tests.compiler.emit.workflow_project import (
    SAME_REPO_CONDITION,
    compile_at,
    edit,
    load_docs,
    write_project,
)

COMMIT_CONDITION = f"!cancelled() && needs.{RESULTS_JOB}.outputs.patch != '' && {SAME_REPO_CONDITION}"

# the results job runs after failed or skipped stages, never after a failed validate
RESULTS_CONDITION = "!cancelled() && needs.validate.result == 'success'"


@pytest.mark.parametrize(
    ("labels", "hosted"),
    [
        (["ubuntu-latest"], True),
        (["Ubuntu-Latest"], True),
        (["UBUNTU-24.04"], True),
        (["macos-14", "MacOS-14"], True),
        (["windows-latest"], True),
        (["self-hosted"], False),
        (["Self-Hosted"], False),
        (["gpu-a100"], False),  # a custom label alone targets a self-hosted runner
        (["GPU-A100"], False),
        (["ubuntu-latest", "gpu"], False),  # one label outside the hosted set is enough
        (["ubuntu-latest-16-cores"], False),  # a larger runner: the organisation's machine
        ([], False),
    ],
)
def test_github_hosted_compares_labels_case_insensitively(labels: list[str], hosted: bool) -> None:
    assert github_hosted(labels) is hosted
    assert github_hosted(tuple(labels)) is hosted


def conditions(job: dict[str, Any]) -> list[str]:
    """The `if:` of a job as the terms of its conjunction (the guard must not be OR-ed away)."""
    text = job.get("if", "")
    assert "||" not in text, text
    return text.split(" && ") if text else []


def assert_fork_safe(docs: dict[str, dict[str, Any]]) -> None:
    """Every PR job on a runner outside the hosted set is guarded; on main and in monitoring the
    guard never appears (it reads the pull-request event, false on a push or a schedule)."""
    for job_id, job in docs[PR_WORKFLOW]["jobs"].items():
        labels = [label.lower() for label in job["runs-on"]]
        if not github_hosted(labels) or job_id == COMMIT_JOB:
            assert SAME_REPO_CONDITION in conditions(job), job_id
        else:
            assert SAME_REPO_CONDITION not in conditions(job), job_id  # forks still get CI
    for path in (MAIN_WORKFLOW, MONITOR_WORKFLOW):
        if path in docs:
            assert "head.repo.full_name" not in str(docs[path]), path


def project_with_labels(root: Path, cpu: str, gpu: str, multi_gpu: str) -> dict[str, dict[str, Any]]:
    write_project(root)
    edit(root, "llmops.yaml", "cpu: [ubuntu-latest]", f"cpu: {cpu}")
    edit(root, "llmops.yaml", "gpu: [self-hosted, linux, gpu-a100]", f"gpu: {gpu}")
    edit(root, "llmops.yaml", "multi_gpu: [self-hosted, linux, gpu-a100-x8]", f"multi_gpu: {multi_gpu}")
    edit(
        root,
        "specs/eval.yaml",
        "dataset: support\n",
        "dataset: support\nresources: {labels: [Ubuntu-22.04, org-large-runner]}\n",
    )
    return load_docs(compile_at(root))


def test_the_demo_project_is_fork_safe(docs: dict[str, dict[str, Any]]) -> None:
    jobs = docs[PR_WORKFLOW]["jobs"]
    guarded = {job_id for job_id, job in jobs.items() if SAME_REPO_CONDITION in conditions(job)}
    assert guarded == {"base-tiny", "tune-tiny", "trial-wide", COMMIT_JOB}  # the GPU jobs, and the writer
    assert_fork_safe(docs)


def test_custom_and_mixed_case_labels(tmp_path: Path) -> None:
    docs = project_with_labels(tmp_path, "[Ubuntu-Latest]", "[GPU-A100]", "[Self-Hosted, Linux, GPU-A100-X8]")
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert jobs["tune-tiny"]["runs-on"] == ["GPU-A100"]  # labels are written as the project spells them
    assert jobs["eval-quality"]["runs-on"] == ["Ubuntu-22.04", "org-large-runner"]
    guarded = {job_id for job_id, job in jobs.items() if SAME_REPO_CONDITION in conditions(job)}
    assert guarded == {"base-tiny", "tune-tiny", "trial-wide", "eval-quality", COMMIT_JOB}
    for job_id in ("base-tiny", "tune-tiny", "trial-wide", "eval-quality"):
        assert jobs[job_id]["if"] == SAME_REPO_CONDITION, job_id
    # Ubuntu-Latest is GitHub's ubuntu-latest: validate, results and cpu stages run for forks
    assert jobs["validate"]["runs-on"] == ["Ubuntu-Latest"] and "if" not in jobs["validate"]
    assert jobs[RESULTS_JOB]["if"] == RESULTS_CONDITION
    assert "if" not in jobs["data-support"] and "if" not in jobs["gate-release"]
    assert jobs[COMMIT_JOB]["if"] == COMMIT_CONDITION
    assert_fork_safe(docs)


def test_validate_and_results_are_guarded_on_self_hosted_cpu_runners(tmp_path: Path) -> None:
    docs = project_with_labels(
        tmp_path, "[self-hosted, linux]", "[self-hosted, gpu]", "[self-hosted, gpu-x8]"
    )
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert jobs["validate"]["if"] == SAME_REPO_CONDITION
    assert jobs[RESULTS_JOB]["if"] == f"{RESULTS_CONDITION} && {SAME_REPO_CONDITION}"
    assert jobs[COMMIT_JOB]["if"] == COMMIT_CONDITION
    for job_id, job in jobs.items():
        assert SAME_REPO_CONDITION in conditions(job), job_id  # not one job left for a fork
    assert_fork_safe(docs)
    # on main everything runs: it is a push to the project's own branch
    main = docs[MAIN_WORKFLOW]["jobs"]
    assert "if" not in main["validate"]
    assert main["deploy-bot"]["if"] == "github.ref == 'refs/heads/trunk'"


def test_a_custom_cpu_label_alone_is_self_hosted(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    edit(root, "llmops.yaml", "cpu: [ubuntu-latest]", "cpu: [Build-Box]")
    docs = load_docs(compile_at(root))
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert jobs["validate"]["if"] == SAME_REPO_CONDITION
    assert jobs["data-support"]["if"] == SAME_REPO_CONDITION
    assert jobs[RESULTS_JOB]["if"] == f"{RESULTS_CONDITION} && {SAME_REPO_CONDITION}"
    assert_fork_safe(docs)
