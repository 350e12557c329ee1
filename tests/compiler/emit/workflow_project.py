"""The project the workflow tests compile, and helpers to read (and run) what it generates.

The project has every kind that shapes CI (GPU and multi-GPU stages, a sweep, a gate, deploys
and monitors) on an S3 remote, and hostile free text in every field that allows it. Variants
edit its text with `edit`, which fails when the text to replace is not there, so a test can
never pass by changing nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.compiler.compile import Compiled, compile_project
from llmops.compiler.parse import load_project

REMOTE_ADD = 'dvc remote add --local --force --default "$DVC_REMOTE_NAME" "$DVC_REMOTE_URL"'
# What every stage job of the pull-request workflow runs after checkout and install.
STAGE_RUNS = [
    REMOTE_ADD,
    'llmops results pull "$LLMOPS_STAGE"',
    'dvc repro --single-item "$LLMOPS_STAGE"',
    'llmops results push "$LLMOPS_STAGE"',
]
METRICS_DIFF_RUN = 'llmops metrics diff --base "$LLMOPS_BASE_SHA" --format markdown >> "$GITHUB_STEP_SUMMARY"'
GATE_RUN = 'llmops gate "$LLMOPS_POLICY" --format markdown --annotations >> "$GITHUB_STEP_SUMMARY"'
RESULTS_GATES_RUN = 'llmops gate --format markdown >> "$GITHUB_STEP_SUMMARY"'
BASE_SHA_ENV = {"LLMOPS_BASE_SHA": "${{ github.event.pull_request.base.sha }}"}
S3_SECRETS = {
    "AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}",
    "AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}",
}
CHECKOUT = re.compile(r"^actions/checkout@[0-9a-f]{40}$")
HOSTILE = "Pwn $(id) and `uname -a` via ${{ github.event.issue.title }}; echo ${HOME}"
# Written out rather than imported, so a change to the guard's expression is a visible test edit.
SAME_REPO_CONDITION = "github.event.pull_request.head.repo.full_name == github.repository"
HOSTILE_MARKERS = ("$(id)", "`uname", "github.event.issue.title", "${HOME}", "Pwn")
# GitHub's `shell: bash` (the workflows' default): `bash --noprofile --norc -eo pipefail {0}`.
GITHUB_BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")

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
REMOTE_LINE = 'storage:\n  remote: {name: storage, url: "s3://demo-bucket/llmops"}\n'

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
DEPLOY_SPECS = ("specs/deploy.yaml", "specs/canary.yaml", "specs/retired.yaml")


def write_project(root: Path, *, remote: bool = True) -> Path:
    quoted = yaml.safe_dump(HOSTILE, default_style='"').strip()
    values = {"hostile": quoted, "hostile_label": quoted, "hostile_inline": HOSTILE.replace('"', "")}
    (root / "llmops.yaml").write_text(PROJECT.format(**values))
    if not remote:
        edit(root, "llmops.yaml", REMOTE_LINE, "")
    for rel, text in SPECS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values))
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace text in one file of the project; the text must be there (else the variant would
    silently be the original project)."""
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} is not in {rel}"
    path.write_text(text.replace(old, new))


def cpu_only(root: Path, *, remote: bool) -> Path:
    """The project with every stage on GitHub-hosted runners and no Deployment: the one kind of
    project that may run without a remote."""
    write_project(root, remote=remote)
    edit(root, "llmops.yaml", "gpu: [self-hosted, linux, gpu-a100]", "gpu: [ubuntu-latest]")
    edit(root, "llmops.yaml", "multi_gpu: [self-hosted, linux, gpu-a100-x8]", "multi_gpu: [ubuntu-24.04]")
    for rel in DEPLOY_SPECS:
        (root / rel).unlink()
    return root


def compile_at(root: Path) -> Compiled:
    return compile_project(load_project(root))


def workflows(compiled: Compiled) -> dict[str, str]:
    return {p: t for p, t in compiled.files.items() if p.startswith(".github/workflows/")}


def load_docs(compiled: Compiled) -> dict[str, dict[str, Any]]:
    return {path: yaml.safe_load(text) for path, text in workflows(compiled).items()}


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def runs(doc: dict[str, Any]) -> list[str]:
    return [s["run"] for job in doc["jobs"].values() for s in steps_of(job) if "run" in s]


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in steps_of(job) if s.get("name") == name]
    assert len(found) == 1, f"{len(found)} steps named {name!r}"
    return found[0]


def write_workflows(root: Path, compiled: Compiled, labels: list[str]) -> list[Path]:
    """The workflows on disk, with an actionlint config naming the project's own runner labels."""
    (root / ".github").mkdir(exist_ok=True)
    (root / ".github/actionlint.yaml").write_text(yaml.safe_dump({"self-hosted-runner": {"labels": labels}}))
    for rel, text in workflows(compiled).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return sorted(root / rel for rel in workflows(compiled))


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the venv's copy of a checker; a missing one fails, since a skip would read as a pass."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.fail(f"{name} is not installed (expected next to {sys.executable}); install the dev extra")
    env = {**os.environ, "PATH": path}  # actionlint finds the venv's shellcheck
    return subprocess.run([found, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False)


def run_step(
    script: str, env: dict[str, str], cwd: Path, *, path: list[Path] | tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a step's `run:` script the way GitHub's `shell: bash` does, with only the given
    environment (plus PATH, HOME and the fakes in `path` first): no git identity from the test
    session leaks in, as none exists on a runner."""
    base = {
        "PATH": os.pathsep.join([*map(str, path), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=cwd.parent, delete=False) as file:
        file.write(script)
    return subprocess.run(
        [*GITHUB_BASH, file.name],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **env},
        check=False,
    )


def unquoted_expansions(script: str) -> list[str]:
    """Every `$...` a bash script expands outside double quotes (in its own words or inside a
    command substitution), as the two characters that start it; `'...'` is literal.

    A small scanner, not a bash parser: enough for our fixed scripts, and stricter than
    splitting on `"` (a quoted "$VAR" inside "$( ... )" is found quoted, a bare one is not).
    """
    found: list[str] = []
    stack = ["word"]  # word: unquoted (top level or inside $( )); dq: "..."; sq: '...'
    i = 0
    while i < len(script):
        char, top = script[i], stack[-1]
        if top == "sq":
            if char == "'":
                stack.pop()
        elif char == "\\":
            i += 1  # the next character is escaped
        elif script.startswith("$(", i):
            stack.append("word")
            i += 1
        elif top == "dq":
            if char == '"':
                stack.pop()
        elif char == '"':
            stack.append("dq")
        elif char == "'":
            stack.append("sq")
        elif char == ")" and len(stack) > 1:
            stack.pop()  # the end of a command substitution
        elif char == "$":
            found.append(script[i : i + 2])
        i += 1
    assert stack == ["word"], f"unbalanced quotes in {script!r}"
    return found
