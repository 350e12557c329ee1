"""The real linters' verdict on the generated workflows, for each shape they take.

The linters (zizmor, actionlint + shellcheck, check-jsonschema) are the dev dependencies in
`.venv/bin`; a missing one fails the test instead of skipping it, because a skipped security
check looks exactly like a passing one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.compiler.emit.workflows import MAIN_WORKFLOW, MONITOR_WORKFLOW, PR_WORKFLOW
from tests.compiler.emit.workflow_project import (
    compile_at,
    cpu_only,
    edit,
    run_tool,
    write_project,
    write_workflows,
)


def demo(root: Path) -> list[str]:
    """S3 remote (secrets as job env), GPU and multi-GPU stages on self-hosted runners, deploys
    and monitors."""
    write_project(root)
    return ["linux", "gpu-a100", "gpu-a100-x8"]


def self_hosted(root: Path) -> list[str]:
    """Everything on the project's own machines (guarded validate and results jobs), custom and
    mixed-case labels, an Azure remote and a preinstalled llmops."""
    write_project(root)
    edit(root, "llmops.yaml", "cpu: [ubuntu-latest]", "cpu: [self-hosted, Linux]")
    edit(root, "llmops.yaml", "gpu: [self-hosted, linux, gpu-a100]", "gpu: [GPU-A100]")
    edit(
        root,
        "llmops.yaml",
        "multi_gpu: [self-hosted, linux, gpu-a100-x8]",
        "multi_gpu: [Self-Hosted, GPU-A100-X8]",
    )
    edit(root, "llmops.yaml", "s3://demo-bucket/llmops", "azure://container/llmops")
    edit(root, "llmops.yaml", "ci:\n", "ci:\n  install: preinstalled\n")
    edit(
        root,
        "specs/eval.yaml",
        "dataset: support\n",
        "dataset: support\nresources: {labels: [org-large-runner]}\n",
    )
    return ["GPU-A100", "GPU-A100-X8", "org-large-runner"]  # actionlint: custom labels as spelled


def no_remote(root: Path) -> list[str]:
    """A CPU-only project without a remote: one job runs the whole pipeline."""
    cpu_only(root, remote=False)
    return []


VARIANTS = {"demo": demo, "self-hosted": self_hosted, "no-remote": no_remote}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def written(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Path]]:
    """A variant's workflows on disk, with an actionlint config naming its own runner labels."""
    root = tmp_path_factory.mktemp(request.param)
    labels = VARIANTS[request.param](root)
    files = write_workflows(root, compile_at(root), labels)
    expected = [PR_WORKFLOW, MAIN_WORKFLOW] + ([] if request.param == "no-remote" else [MONITOR_WORKFLOW])
    assert sorted(files) == sorted(root / rel for rel in expected)
    return root, files


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(written: tuple[Path, list[Path]], persona: str) -> None:
    _, files = written
    proc = run_tool("zizmor", "--offline", "--no-progress", "--persona", persona, *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_actionlint_with_shellcheck_passes(written: tuple[Path, list[Path]]) -> None:
    root, files = written
    shellcheck = run_tool("shellcheck", "--version")
    assert shellcheck.returncode == 0, shellcheck.stderr
    config = str(root / ".github/actionlint.yaml")
    proc = run_tool("actionlint", "-config-file", config, *map(str, files), cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_github_workflow_schema_passes(written: tuple[Path, list[Path]]) -> None:
    _, files = written
    proc = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr
