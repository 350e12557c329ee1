"""The whole governance flow, run for real: a git repository built with gitpython, the generated
pull-request and main-branch workflows run by `act`, DVC really reproducing the pipeline.

The project (tests/fixtures/projects/governance) evaluates a tiny model and gates the production
deployment on the result; its repository also holds the llmops source, so `pip install .` in
the jobs installs this llmops, as in the example project. The pipeline runs once here and is
pushed to a DVC remote in a temporary folder; CI jobs pull from it, so only what a pull request
changed reruns. Three runs of act:

* a pull request that tightens the policy: its gate job fails, with the rule table in the job
  summary and an annotation on the policy's line; upstream stages are not rerun;
* a merge commit with no approval: the main workflow's first step refuses it, saying why;
* the same merge with an approval: the main workflow passes, and `llmops audit` records it.

act runs jobs on this host (`-P ubuntu-latest=-self-hosted`; there is no Docker). The jobs create
their venv with `python3 -m venv`; the `python3` first on PATH here makes that venv see this
test venv's packages (a warm runner), so `pip install .` builds and installs only llmops itself
and the three runs take about a minute each rather than many.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import git
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "governance"
PR_WORKFLOW = ".github/workflows/llmops-pr.yml"
MAIN_WORKFLOW = ".github/workflows/llmops-main.yml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LLMOPS_SOURCE = ("pyproject.toml", "README.md", "llmops/", "compiler/", "runners/")
CAROL = git.Actor("Carol Coder", "carol@example.com")
GITHUB = git.Actor("GitHub", "noreply@github.com")
SHIM = """#!/bin/sh
# python3 for act jobs: a venv it creates sees the test venv's packages (a warm runner).
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  "{python}" -m venv --without-pip "$3" || exit $?
  site=$(ls -d "$3"/lib/python3*/site-packages)
  "{python}" -c 'import site; print(site.getsitepackages()[0])' > "$site/_warm_runner.pth"
  exit 0
fi
exec "{python}" "$@"
"""


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


def _build_tiny_model(folder: Path, texts: list[str]) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llmops.runners.base.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(texts, 300)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def act_env(tmp_path_factory, tool_env: dict[str, str]) -> dict[str, str]:
    shim = tmp_path_factory.mktemp("warm-runner")
    (shim / "python3").write_text(SHIM.format(python=sys.executable))
    (shim / "python3").chmod(0o755)
    env = {k: v for k, v in tool_env.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    env["PATH"] = os.pathsep.join([str(shim), env["PATH"]])
    env["PIP_NO_BUILD_ISOLATION"] = "1"  # setuptools comes from the warm venv too
    return env


@pytest.fixture(scope="module")
def origin(tmp_path_factory, worktree_copy, act_env: dict[str, str]) -> Path:
    """The project's repository after its first pull request: pipeline run, pushed, committed."""
    base = tmp_path_factory.mktemp("governance")
    root = worktree_copy(base / "origin", LLMOPS_SOURCE)
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    (root / "llmops.yaml").write_text(
        "apiVersion: llmops/v1\nkind: Project\nname: governance\n"
        f"storage:\n  remote: {{name: storage, url: {base / 'remote'}}}\n"
        'ci:\n  llmops_requirement: "."\n'
    )
    rows = [json.loads(line) for line in (root / "data/tickets.jsonl").read_text().splitlines()]
    _build_tiny_model(root / "models/tiny", [f"{r['question']} {r['answer']}" for r in rows])
    repo = git.Repo.init(root, initial_branch="main")
    for args in (
        ["dvc", "init", "-q"],
        ["llmops", "compile"],
        ["dvc", "repro"],
        ["dvc", "remote", "add", "--local", "--default", "storage", str(base / "remote")],
        ["dvc", "push"],
        ["llmops", "results", "push", "--all"],  # so CI's jobs find these results, not rerun them
    ):
        _ok(_run(args, root, act_env))
    assert json.loads((root / "metrics/gate-release.json").read_text())["passed"] is True
    repo.git.add("-A")
    message = "Initial project (#1)\n\nApproved-by: Alice Lead <alice@example.com>\n"
    repo.index.commit(message, author=CAROL, committer=GITHUB)
    return root


def _clone(origin: Path, dest: Path) -> git.Repo:
    repo = git.Repo.clone_from(origin, dest)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Carol Coder")
        config.set_value("user", "email", "carol@example.com")
    return repo


def _branch(repo: git.Repo, name: str, edit: Callable[[Path], None], env: dict[str, str]) -> git.Commit:
    """A feature branch with one spec change, compiled as the pre-commit hook would."""
    repo.git.checkout("-q", "-b", name)
    root = Path(repo.working_tree_dir)
    edit(root)
    _ok(_run(["llmops", "compile"], root, env))
    repo.git.add("-A")
    return repo.index.commit(f"Change {name}", author=CAROL, committer=CAROL)


def _act(
    repo_dir: Path,
    event: str,
    job: str,
    workflow: str,
    env: dict[str, str],
    payload: dict | None,
    job_env: dict[str, str] | None = None,
):
    args = ["act", event, "-j", job, "-P", "ubuntu-latest=-self-hosted", "-W", workflow]
    args += ["--no-cache-server", "--action-offline-mode"]
    for name, value in (job_env or {}).items():
        args += ["--env", f"{name}={value}"]
    if payload is not None:
        event_file = repo_dir.parent / f"{event}-{job}.json"
        event_file.write_text(json.dumps(payload))
        args += ["--eventpath", str(event_file)]
    proc = _run(args, repo_dir, env, timeout=900)
    return proc.returncode, ANSI.sub("", proc.stdout + proc.stderr)


@pytest.mark.slow
def test_a_failing_gate_blocks_the_pull_request(origin, tmp_path, act_env):
    repo = _clone(origin, tmp_path / "clone")
    base_sha = repo.head.commit.hexsha

    def tighten(root: Path) -> None:
        policy = root / "specs/release.yaml"
        policy.write_text(policy.read_text().replace("min: 0.0}", "min: 0.9}"))

    head = _branch(repo, "tighten", tighten, act_env)
    payload = {
        "pull_request": {
            "number": 2,
            "head": {"ref": "tighten", "sha": head.hexsha, "repo": {"full_name": "org/governance"}},
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": "org/governance"}},
        },
        "repository": {"full_name": "org/governance"},
    }
    code, log = _act(tmp_path / "clone", "pull_request", "gate-release", PR_WORKFLOW, act_env, payload)
    assert code != 0, log[-6000:]
    # Upstream results came from the remote (never recomputed): only the changed gate ran, and failed.
    assert "gate-release: inputs restored from the remote; ready to run" in log, log[-6000:]
    assert "Running stage 'eval-quality'" not in log
    assert "Running stage 'gate-release'" in log
    assert re.search(r"rouge-floor: rougeL of path:models/tiny is [0-9.]+: misses >= 0\.9", log), log[-6000:]
    assert "Failure - Main Run the stage" in log
    # The policy table went to the job summary, and the annotation points at the rule's line.
    assert "::error file=specs/release.yaml,line=7,title=release%3A rouge-floor::" in log, log[-6000:]
    assert "| rule | model | metric | observed | limit | detail |" in log


@pytest.mark.slow
def test_main_refuses_an_unapproved_merge_and_records_an_approved_one(origin, tmp_path, act_env):
    repo = _clone(origin, tmp_path / "clone")
    root = tmp_path / "clone"
    main = repo.head.commit

    def smoke_test(root: Path) -> None:
        spec = root / "specs/prod.yaml"
        spec.write_text(spec.read_text() + "smoke_tests:\n  - {prompt: Where is my parcel 3?}\n")

    feature = _branch(repo, "smoke", smoke_test, act_env)
    repo.git.checkout("-q", "main")

    def merge(trailers: str) -> git.Commit:
        repo.git.reset("-q", "--hard", main.hexsha)
        repo.git.merge("--no-ff", "--no-commit", feature.hexsha)
        message = f"Merge pull request #3 from org/smoke\n\nAdd a smoke test\n{trailers}"
        return repo.index.commit(message, parent_commits=[main, feature], author=GITHUB, committer=GITHUB)

    # act has no GitHub API to verify the pull request with: this local run opts into trusting
    # the merge commit's trailers, as a local `llmops enforce --trailers` does.
    trailers = {"LLMOPS_TRUST_TRAILERS": "1"}
    merge("")
    code, log = _act(root, "push", "validate", MAIN_WORKFLOW, act_env, None, trailers)
    assert code != 0, log[-6000:]
    assert "Failure - Main Check the commit arrived through an approved pull request" in log, log[-6000:]
    assert "approvals: pull request #3 has 0 approvals (nobody); 1 needed" in log, log[-6000:]
    assert "Validate the specs" not in log.split("Failure - Main Check the commit")[1]

    approved = merge("\nApproved-by: Alice Lead <alice@example.com>\n")
    code, log = _act(root, "push", "validate", MAIN_WORKFLOW, act_env, None, trailers)
    assert code == 0, log[-6000:]
    assert "Success - Main Check the commit arrived through an approved pull request" in log
    assert "Success - Main Validate the specs" in log

    audit = json.loads(_ok(_run(["llmops", "audit", "--format", "json", "--name", "prod"], root, act_env)))
    (row,) = [c for c in audit["changes"] if c["commit"] == approved.hexsha]
    assert (row["pr"], row["approvals"], row["gate"], row["merge_style"]) == (
        3,
        ["Alice Lead"],
        {"release": "passed"},
        "merge",
    )
