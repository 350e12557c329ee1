"""A tiny DVC project run once by real `dvc repro` inside a git repository, copied per test.

Two stages with `python -c` commands: `prepare` reads a git-tracked folder (`data`) and a stage
config, writes a cached folder (`prepared`) and an uncached metrics file; `train` reads
`prepared`, a git-tracked file (`extra.txt`) and prepare's metrics file, writes a cached file
(`model.bin`), an uncached metrics file and an uncached plots folder. The project lives in
`proj/` of the repository (`dvc init --subdir`), so the commit reader's prefix is exercised.
The data folder holds the names where DVC's listing order, JSON escaping and hashing are easy
to get wrong: `a-b.txt` next to `a/`, a non-ASCII name, an empty file, CRLF text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest
from ruamel.yaml import YAML

from llmops.results.files import DiskFiles, TreeFiles

VENV_BIN = Path(sys.executable).parent
PREFIX = "proj"
LR = 0.0002

PREPARE = (
    "import json, os, shutil; shutil.copytree('data', 'prepared'); "
    "c = json.load(open('.llmops/stages/prepare.json')); os.makedirs('metrics', exist_ok=True); "
    "json.dump({'seed': c['seed']}, open('metrics/prepare.json', 'w'))"
)
TRAIN = (
    "import json, os; c = json.load(open('.llmops/stages/train.json')); "
    "n = sum(len(f) for _, _, f in os.walk('prepared')); "
    "open('model.bin', 'w').write(str(n) + ' ' + str(c['spec']['training']['lr'])); "
    "os.makedirs('plots/train', exist_ok=True); "
    "open('plots/train/loss.csv', 'w').write('step,loss' + chr(10) + '1,0.5' + chr(10)); "
    "json.dump({'rougeL': 0.4, 'n': n}, open('metrics/train.json', 'w'))"
)
PIPELINE = {
    "stages": {
        "prepare": {
            "cmd": f'python -c "{PREPARE}"',
            "deps": ["data"],
            "params": [{".llmops/stages/prepare.json": None}],
            "outs": ["prepared"],
            "metrics": [{"metrics/prepare.json": {"cache": False}}],
        },
        "train": {
            "cmd": f'python -c "{TRAIN}"',
            "deps": ["prepared", "extra.txt", "metrics/prepare.json"],
            "params": [{".llmops/stages/train.json": None}],
            "outs": ["model.bin"],
            "metrics": [{"metrics/train.json": {"cache": False}}],
            "plots": [{"plots/train": {"cache": False}}],
        },
    }
}
DATA = {
    "data/a.txt": b"a\r\nb\n",
    "data/a-b.txt": b"dash\n",
    "data/a/b.txt": b"nested\n",
    "data/\u00e9t\u00e9.txt": "\u00e9t\u00e9\n".encode(),
    "data/empty": b"",
    "extra.txt": b"extra\n",
}
CONFIG = {"seed": 1, "spec": {"training": {"epochs": 2, "lr": LR}}}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])  # `python` is ours
    env["DVC_NO_ANALYTICS"] = "1"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    return env


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Project:
    """A copy of the built project: `repo` is the git root, `root` the DVC project in it."""

    repo: Path

    @property
    def root(self) -> Path:
        return self.repo / PREFIX

    def git(self, *args: str) -> str:
        ident = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
        return _run(["git", *ident, *args], self.repo)

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def dvc(self, dvc_bin: str, *args: str) -> str:
        return _run([dvc_bin, *args], self.root)

    def tree(self) -> TreeFiles:
        return TreeFiles(git.Repo(self.repo).head.commit.tree, PREFIX)

    def disk(self) -> DiskFiles:
        return DiskFiles(self.root)

    def lock(self) -> Any:
        return YAML(typ="rt").load((self.root / "dvc.lock").read_text())

    def write_lock(self, doc: Any) -> None:
        with (self.root / "dvc.lock").open("w") as handle:
            YAML(typ="rt").dump(doc, handle)

    def entry_item(self, doc: Any, stage: str, section: str, path: str) -> Any:
        return next(i for i in doc["stages"][stage][section] if i["path"] == path)

    def write(self, rel: str, data: bytes | str) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.fixture(scope="session")
def dvc_bin() -> str:
    found = VENV_BIN / "dvc"
    if not found.exists():
        pytest.fail(f"dvc is not installed in {VENV_BIN}; install the dev extra")  # a skip reads as a pass
    return str(found)


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory, dvc_bin: str) -> Path:
    """The project after one real `dvc repro` and a commit of everything git tracks."""
    repo = tmp_path_factory.mktemp("dvc-project")
    project = Project(repo)
    project.git("init", "-q")
    project.root.mkdir()
    _run([dvc_bin, "init", "--subdir", "-q"], project.root)
    for rel, data in DATA.items():
        project.write(rel, data)
    for stage in ("prepare", "train"):
        project.write(f".llmops/stages/{stage}.json", json.dumps(CONFIG, indent=2) + "\n")
    project.write("dvc.yaml", json.dumps(PIPELINE, indent=1) + "\n")  # JSON is YAML
    _run([dvc_bin, "repro", "-q"], project.root)
    project.commit("run the pipeline")
    return repo


@pytest.fixture
def project(built_repo: Path, tmp_path: Path) -> Project:
    """A fresh copy of the built project (git history, DVC cache and workspace) to change."""
    copy = tmp_path / "repo"
    shutil.copytree(built_repo, copy, symlinks=True)
    return Project(copy)
