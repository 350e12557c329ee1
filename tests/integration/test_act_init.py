"""A new `llmops init` project's generated CI installs this project, run for real by `act`.

The package index here has no `llmops-gitops` (it is not published yet), so the test builds
this repository's wheel once, from a copy of the working tree as a clone would have it, and
points pip at it with PIP_FIND_LINKS. The generated `validate` job then runs unchanged: its
`pip install llmops-gitops==<version>` (the default `ci.llmops_requirement`) finds our wheel and
takes the other dependencies from the index, as the repository's own act test does. There is no
Docker here, so act runs the job on the host (`-P ubuntu-latest=-self-hosted`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import llmops
from llmops.cli.main import main

WORKFLOW = ".github/workflows/llmops-pr.yml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WHEEL_NAME = f"{llmops.DISTRIBUTION.replace('-', '_')}-{llmops.__version__}-py3-none-any.whl"
STARTERS = Path(llmops.__file__).parent / "cli" / "starters"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=llmops-test", "-c", "user.email=test@llmops.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, worktree_copy: Callable[..., Path]) -> Path:
    """This repository's wheel, built without network from a copy of the working tree (so the
    build writes nothing into the repository)."""
    source = worktree_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
        + [str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (out / WHEEL_NAME).is_file(), sorted(p.name for p in out.iterdir())
    return out / WHEEL_NAME


def _find_links(extra: Path, env: dict[str, str]) -> str:
    """PIP_FIND_LINKS with `extra` first, keeping the links pip already had (the environment's,
    else pip's configuration), since the variable replaces them."""
    links = env.get("PIP_FIND_LINKS", "")
    if not links:
        config = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True,
            text=True,
            check=False,
        )
        links = config.stdout.strip() if config.returncode == 0 else ""
    return " ".join([str(extra), *links.split()])


@pytest.fixture
def new_project(tmp_path: Path, venv_tool: Callable[[str], str], tool_env: dict[str, str]) -> Path:
    """`llmops init --starter lifecycle`, committed; then compiled and committed again, as a team's
    first pull request would add the generated files."""
    root = tmp_path / "my-llm"
    assert main(["init", "--starter", "lifecycle", str(root)]) == 0
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "llmops init")
    compiled = subprocess.run(
        [venv_tool("llmops"), "compile"], cwd=root, capture_output=True, text=True, env=tool_env
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert (root / WORKFLOW).is_file()
    git(root, "checkout", "-q", "-b", "first-pipeline")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "llmops compile")
    return root


@pytest.mark.slow
def test_a_new_projects_ci_installs_this_project_and_validates(
    new_project: Path,
    wheel: Path,
    tmp_path: Path,
    venv_tool: Callable[[str], str],
    tool_env: dict[str, str],
) -> None:
    requirement = f"{llmops.DISTRIBUTION}=={llmops.__version__}"
    assert f'LLMOPS_REQUIREMENT: "{requirement}"' in (new_project / WORKFLOW).read_text()
    base, head = git(new_project, "rev-parse", "main", "HEAD").split()
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 1,
                    "base": {"ref": "main", "sha": base},
                    "head": {"ref": "first-pipeline", "sha": head},
                }
            }
        )
    )
    proc = subprocess.run(
        [
            venv_tool("act"),
            "pull_request",
            "-j",
            "validate",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--eventpath",
            str(event),
            "-W",
            WORKFLOW,
            "--env",
            f"PIP_FIND_LINKS={_find_links(wheel.parent, tool_env)}",
            "--no-cache-server",
            "--action-offline-mode",
        ],
        cwd=new_project,
        capture_output=True,
        text=True,
        env=tool_env,
        timeout=900,
    )
    log = ANSI.sub("", proc.stdout + proc.stderr)
    for step in ("Install llmops", "Validate the specs"):
        assert re.search(rf"Success - Main {re.escape(step)} \[", log), (
            f"step {step!r} did not succeed:\n{log[-8000:]}"
        )
    # pip took our wheel (the index has no llmops-gitops), and the command it installed read
    # every kind of the lifecycle starter
    assert re.search(rf"Processing .*{re.escape(WHEEL_NAME)}", log), log[-8000:]
    assert re.search(rf"Successfully installed .*{re.escape(requirement.replace('==', '-'))}", log), log[
        -8000:
    ]
    assert re.search(
        r"ok: llmops\.yaml and 1 Dataset, 1 Deployment, 1 EvalSuite, 1 FineTune, 1 Policy, 1 Prompt", log
    ), log[-8000:]


# `llmops` from the unpacked wheel (argv[1]), not the editable install, then its command line
FROM_SITE = (
    "import sys, llmops; from llmops.cli.main import main; "
    "assert llmops.__file__.startswith(sys.argv[1]), llmops.__file__; sys.exit(main(sys.argv[2:]))"
)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("starter", ["minimal", "lifecycle"])
def test_the_wheel_holds_every_starter_file(wheel: Path, tmp_path: Path, starter: str) -> None:
    """`llmops init` run from the installed wheel writes what it writes from the source tree:
    package-data reaches every file at every depth, dotfiles included (as `_` names)."""
    with zipfile.ZipFile(wheel) as whl:
        packed = {n for n in whl.namelist() if n.startswith("llmops/cli/starters/")}
        whl.extractall(tmp_path / "site")
    shipped = {
        p.relative_to(STARTERS.parents[2]).as_posix()
        for p in STARTERS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert packed == shipped
    site = tmp_path / "site"
    from_wheel = subprocess.run(
        [sys.executable, "-c", FROM_SITE, str(site)]
        + ["init", "--starter", starter, "--remote", "s3://bucket/p", str(tmp_path / "from-wheel")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert from_wheel.returncode == 0, from_wheel.stdout + from_wheel.stderr
    assert (
        main(["init", "--starter", starter, "--remote", "s3://bucket/p", str(tmp_path / "from-source")]) == 0
    )
    assert _tree(tmp_path / "from-wheel") == _tree(tmp_path / "from-source")
