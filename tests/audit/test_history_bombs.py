"""A YAML bomb committed to history is reported and skipped, never expanded.

Before the budget in `llmops.yamlsafe`, a 1 KB billion-laughs spec in one old commit made
`llmops audit` take 57 s instead of 0.4 s (nine times longer per level of aliases); a bomb in a
committed dvc.lock is read by the audit's scope and by enforcement, so it is here too.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest

from llmops.audit import enforce
from llmops.audit.tree import load_yaml
from llmops.cli.main import main
from llmops.results.pipeline import read_lock
from llmops.yamlsafe import YamlError
from tests.audit.gitproject import ALICE, BOB, TUNE, policy, start

PROJECT = "kind: Project\nname: demo\n"
DEPLOY = (
    "kind: Deployment\nname: prod\nmodel: {{finetune: tiny}}\nenvironment: production\nstatus: {status}\n"
)
EVE = git.Actor("Eve Pusher", "eve@example.com")


def bomb(head: str, levels: int = 18) -> str:
    """Billion laughs under `head`: 9**levels strings from about 1 KB."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return head + "x-laughs:\n" + "".join(f"  {line}\n" for line in lines)


def _history(root: Path, steps: list[tuple[str, dict[str, str]]]) -> list[str]:
    repo = git.Repo.init(root, initial_branch="main")
    shas = []
    for day, (message, files) in enumerate(steps, start=1):
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
            repo.index.add([path])
        when = datetime(2026, 1, day, 10, 0, tzinfo=UTC)
        commit = repo.index.commit(message, author=EVE, committer=EVE, author_date=when, commit_date=when)
        shas.append(commit.hexsha)
    return shas


def _audit(root: Path, capsys) -> tuple[dict, float]:
    started = time.perf_counter()
    assert main(["-C", str(root), "audit", "--format", "json"]) == 0
    elapsed = time.perf_counter() - started
    return json.loads(capsys.readouterr().out), elapsed


def _steps(middle: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    return [
        ("Initial (#1)", {"llmops.yaml": PROJECT, "specs/prod.yaml": DEPLOY.format(status="active")}),
        ("Change prod (#2)", middle),
        ("Retire prod (#3)", {"specs/prod.yaml": DEPLOY.format(status="retired")}),
    ]


def test_a_spec_bomb_in_history_is_reported_unparseable_and_costs_nothing(tmp_path, capsys):
    text = bomb(DEPLOY.format(status="active"))
    assert 900 <= len(text) <= 1100
    clean_root, bomb_root = tmp_path / "clean", tmp_path / "bomb"
    _history(clean_root, _steps({"specs/prod.yaml": DEPLOY.format(status="active") + "replicas: 2\n"}))
    shas = _history(bomb_root, _steps({"specs/prod.yaml": text}))
    _, clean_time = _audit(clean_root, capsys)
    report, bomb_time = _audit(bomb_root, capsys)
    assert bomb_time < 2 * clean_time + 1.0, (bomb_time, clean_time)
    rows = {c["commit"]: c for c in report["changes"]}
    row = rows[shas[1]]
    assert row["parseable"] is False
    assert any(
        n.startswith("spec does not parse at this commit: specs/prod.yaml:")
        and "aliases expand this value" in n
        for n in row["notes"]
    ), row["notes"]
    assert rows[shas[2]]["parseable"] is True and rows[shas[2]]["change"] == "retired"


@pytest.mark.parametrize("path", ["dvc.lock", "dvc.yaml"])
def test_a_dvc_file_bomb_in_history_is_a_note_not_a_hang(path, tmp_path, capsys):
    """The audit checks each row's results against its dvc.yaml and dvc.lock (stale or not)."""
    changed = DEPLOY.format(status="active").replace("production", "staging")
    steps = _steps({path: bomb("schema: '2.0'\nstages: {}\n"), "specs/prod.yaml": changed})
    steps[0][1].update({"dvc.yaml": "stages: {}\n", "dvc.lock": "schema: '2.0'\nstages: {}\n"})
    shas = _history(tmp_path, steps)
    report, elapsed = _audit(tmp_path, capsys)
    assert elapsed < 5.0
    row = {c["commit"]: c for c in report["changes"]}[shas[1]]
    assert row["parseable"] is True  # the spec is fine; its results cannot be judged
    assert any(n.startswith("results at this commit are stale") and path in n for n in row["notes"])
    assert any("aliases expand this value" in n and "(line 8)" in n for n in row["notes"]), row["notes"]


def test_the_history_readers_refuse_a_bomb_with_its_line_at_once():
    lock = bomb("schema: '2.0'\nstages: {}\n")
    started = time.perf_counter()
    with pytest.raises(YamlError, match=r"^dvc\.lock:8:7: aliases expand this value to [0-9,]+ nodes"):
        load_yaml(lock)
    with pytest.raises(ValueError, match=r"^not valid YAML: aliases expand this value .*\(line 8\)$"):
        read_lock(lock)
    assert time.perf_counter() - started < 0.5


def test_enforce_refuses_a_base_holding_a_bomb_with_a_reason(tmp_path):
    """The rules are read from the base strictly: a bomb there refuses, and is never expanded."""
    r = start(tmp_path / "repo")
    r.write({"specs/release.yaml": bomb(policy())})
    base = r.commit("Policy notes (#2)\n\n" + ALICE + "\n" + BOB + "\n")
    sha = r.pull_request(3, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB], compile=False)
    started = time.perf_counter()
    verdict = enforce.check(r.repo, sha, source=enforce.Source(trailers=True))
    assert time.perf_counter() - started < 5.0
    reasons = {c.name: c.detail for c in verdict.refusals()}
    assert reasons["rules"].startswith(f"the base {base.hexsha[:10]} does not parse with this llmops (")
    assert "specs/release.yaml:" in reasons["rules"] and "aliases expand this value" in reasons["rules"]
