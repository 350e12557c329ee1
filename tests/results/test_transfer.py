"""`llmops results pull | push | collect | diff` across job workspaces that share only git and a
DVC remote (a folder), with a three-stage pipeline of plain Python commands: a stage job runs
its own stage once, never an upstream one; a rerun finds its results and runs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def tool_env() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}


@pytest.fixture
def venv_tool() -> Callable[[str], str]:
    return lambda name: str(VENV_BIN / name)


SCRIPTS = {
    "a.py": """
import json, os
os.makedirs("out/a", exist_ok=True); os.makedirs("metrics", exist_ok=True)
open("out/a/x.txt", "w").write(open("data/in.txt").read() * 2)
json.dump({"n": 2}, open("metrics/a.json", "w"))
print("RAN a")
""",
    "b.py": """
import json, os
os.makedirs("metrics", exist_ok=True)
open("out/b.txt", "w").write(open("out/a/x.txt").read().upper())
json.dump({"m": len(open("out/a/x.txt").read())}, open("metrics/b.json", "w"))
print("RAN b")
""",
    "c.py": """
import json, os
os.makedirs("metrics", exist_ok=True)
json.dump({"ok": json.load(open("metrics/b.json"))["m"]}, open("metrics/c.json", "w"))
print("RAN c")
""",
}

PIPELINE = """\
stages:
  a:
    cmd: python scripts/a.py
    deps: [data/in.txt, scripts/a.py]
    params: [{cfg/a.json: null}]
    outs: [{out/a: {persist: true}}]
    metrics: [{metrics/a.json: {cache: false, persist: true}}]
  b:
    cmd: python scripts/b.py
    deps: [out/a, scripts/b.py]
    params: [{cfg/b.json: null}]
    outs: [{out/b.txt: {persist: true}}]
    metrics: [{metrics/b.json: {cache: false, persist: true}}]
  c:
    cmd: python scripts/c.py
    deps: [metrics/b.json, scripts/c.py]
    params: [{cfg/c.json: null}]
    metrics: [{metrics/c.json: {cache: false, persist: true}}]
"""


def run(cmd: list[str], cwd: Path, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd, env).stdout


@pytest.fixture
def origin(tmp_path: Path, tool_env: dict[str, str], venv_tool: Callable[[str], str]) -> Path:
    repo = tmp_path / "origin"
    for rel, text in {"dvc.yaml": PIPELINE, "data/in.txt": "hello\n", ".gitignore": "/out\n"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    for name, text in SCRIPTS.items():
        (repo / "scripts").mkdir(exist_ok=True)
        (repo / "scripts" / name).write_text(text)
    (repo / "cfg").mkdir()
    for name in ("a", "b", "c"):
        (repo / "cfg" / f"{name}.json").write_text(json.dumps({"lr": 1}))
    git(repo, tool_env, "init", "-q", "-b", "main")
    run([venv_tool("dvc"), "init", "-q"], repo, tool_env)
    git(repo, tool_env, "add", "-A")
    git(repo, tool_env, "commit", "-qm", "init")
    return repo


class Jobs:
    """Each call is one CI job: a fresh clone of origin, the remote set, llmops and dvc run."""

    def __init__(self, origin: Path, tmp: Path, env: dict[str, str], tool: Callable[[str], str]) -> None:
        self.origin, self.tmp, self.env, self.tool, self.count = origin, tmp, env, tool, 0
        self.remote = tmp / "remote"

    def workspace(self) -> Path:
        self.count += 1
        ws = self.tmp / f"job{self.count}"
        git(self.tmp, self.env, "clone", "-q", str(self.origin), str(ws))
        run([self.tool("dvc"), "remote", "add", "--local", "-d", "storage", str(self.remote)], ws, self.env)
        return ws

    def stage(self, name: str) -> str:
        ws = self.workspace()
        out = run([self.tool("llmops"), "results", "pull", name], ws, self.env).stdout
        out += run([self.tool("dvc"), "repro", "--single-item", name], ws, self.env).stdout
        out += run([self.tool("llmops"), "results", "push", name], ws, self.env).stdout
        return out

    def llmops(self, ws: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        return run([self.tool("llmops"), *args], ws, self.env, ok=ok)


@pytest.fixture
def jobs(origin: Path, tmp_path: Path, tool_env, venv_tool) -> Jobs:
    return Jobs(origin, tmp_path, tool_env, venv_tool)


def test_each_job_runs_only_its_stage_and_a_rerun_runs_nothing(jobs: Jobs) -> None:
    logs = {name: jobs.stage(name) for name in ("a", "b", "c")}
    for name, log in logs.items():
        ran = {s for s in "abc" if f"RAN {s}" in log}
        assert ran == {name}, (name, log)
    # the results job: every stage's lock entry and metrics, from the remote alone
    ws = jobs.workspace()
    assert "3 of 3 stages" in jobs.llmops(ws, "results", "collect").stdout
    assert json.loads((ws / "metrics" / "c.json").read_text()) == {"ok": 12}
    assert not (ws / "out").exists()  # no model-sized output was fetched to collect
    diff = jobs.llmops(ws, "results", "diff", "--patch", str(jobs.tmp / "p.patch"), ok=False)
    assert diff.returncode == 1 and "dvc.lock" in diff.stderr
    # the commit job applies the patch; CI on the results commit changes nothing
    git(jobs.origin, jobs.env, "apply", "--index", str(jobs.tmp / "p.patch"))
    git(jobs.origin, jobs.env, "commit", "-qm", "results")
    for name in ("a", "b", "c"):
        log = jobs.stage(name)
        assert "restored, not rerun" in log and "RAN" not in log, log
    ws = jobs.workspace()
    jobs.llmops(ws, "results", "collect")
    assert "exactly these results" in jobs.llmops(ws, "results", "diff").stdout
    # a setting that changes no output of a: a runs again, b below it is found, not recomputed
    (jobs.origin / "cfg" / "a.json").write_text(json.dumps({"lr": 2}))
    git(jobs.origin, jobs.env, "commit", "-qam", "lr")
    assert "RAN a" in jobs.stage("a")
    assert "RAN b" not in jobs.stage("b")


def test_a_job_refuses_to_start_without_upstream_results(jobs: Jobs) -> None:
    ws = jobs.workspace()
    proc = jobs.llmops(ws, "results", "pull", "b", ok=False)
    assert proc.returncode == 1
    assert "a: no results in the remote for these inputs" in proc.stderr
    assert "never recomputes an upstream stage" in proc.stderr


def test_a_contributor_push_is_reused_and_a_stale_lock_is_not_pushed(jobs: Jobs) -> None:
    ws = jobs.workspace()
    run([jobs.tool("dvc"), "repro"], ws, jobs.env)
    assert "results recorded" in jobs.llmops(ws, "results", "push", "--all").stdout
    assert "restored, not rerun" in jobs.stage("c")
    # the contributor commits what DVC wrote; CI's results equal it, so CI would change nothing
    git(ws, jobs.env, "add", "-A")
    git(ws, jobs.env, "commit", "-qm", "results from my machine")
    lock = (ws / "dvc.lock").read_text()
    jobs.llmops(ws, "results", "collect")
    assert "exactly these results" in jobs.llmops(ws, "results", "diff").stdout
    assert (ws / "dvc.lock").read_text() == lock  # DVC's own text kept, not rewritten
    (ws / "cfg" / "b.json").write_text(json.dumps({"lr": 9}))  # changed after the run
    proc = jobs.llmops(ws, "results", "push", "b", ok=False)
    assert proc.returncode == 1 and "params cfg/b.json differ" in proc.stderr


def test_a_damaged_record_is_refused(jobs: Jobs) -> None:
    jobs.stage("a")
    for record in (jobs.remote / "llmops-results").rglob("*.json"):
        body = json.loads(record.read_text())
        body["lock"]["outs"][0]["md5"] = "0" * 32
        record.write_text(json.dumps(body))
    ws = jobs.workspace()
    proc = jobs.llmops(ws, "results", "pull", "b", ok=False)
    assert proc.returncode == 1 and "not what its dvc.lock entry records" in proc.stderr


def test_no_remote_is_a_usage_error(origin: Path, tool_env, venv_tool) -> None:
    proc = run([venv_tool("llmops"), "results", "pull", "b"], origin, tool_env, ok=False)
    assert proc.returncode == 2 and "storage.remote" in proc.stderr
