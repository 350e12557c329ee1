"""`llmops register`: GTO-style version and environment tags, written and read back."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import git
import pytest

from llmops.audit import tags as registry
from llmops.cli.main import main

# GTO's own tag grammar (gto/constants.py, GTO 1.x), kept verbatim so a change on our side that
# GTO could not read fails here.
_GTO_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_GTO_FULLNAME = f"(?P<dirname>[a-zA-Z0-9-_./]+=)?(?P<name>{_GTO_NAME})"
_GTO_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)(?:-(?P<prerelease>(?:0|[1-9]\d*|"
    r"\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+(?P<buildmetadata>"
    r"[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
GTO_TAG = re.compile(
    f"^(?P<artifact>{_GTO_FULLNAME})(((#(?P<stage>{_GTO_NAME})|@(?P<version>v{_GTO_SEMVER}))(?P<cancel>!?))"
    f"|@((?P<deprecated>deprecated)|(?P<created>created)))(#(?P<counter>[0-9]+))?$"
)


def _commit(repo: git.Repo, root: Path, text: str, day: int) -> git.Commit:
    (root / "specs").mkdir(exist_ok=True)
    (root / "specs" / "tiny.yaml").write_text(text)
    repo.index.add(["specs/tiny.yaml"])
    when = datetime(2026, 2, day, 9, 0, tzinfo=UTC)
    return repo.index.commit(f"change {day}", author_date=when, commit_date=when)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, git.Repo]:
    root = tmp_path / "repo"
    repo = git.Repo.init(root, initial_branch="main")
    (root / "llmops.yaml").write_text("kind: Project\nname: demo\n")
    repo.index.add(["llmops.yaml"])
    _commit(repo, root, "kind: FineTune\nname: tiny\n", 1)
    return root, repo


def test_register_assign_and_read_back(repo, capsys):
    root, r = repo
    first = r.head.commit.hexsha
    assert main(["-C", str(root), "register", "tiny"]) == 0
    assert main(["-C", str(root), "register", "tiny", "--env", "staging", "-m", "smoke tests green"]) == 0
    _commit(r, root, "kind: FineTune\nname: tiny\n# v2\n", 2)
    second = r.head.commit.hexsha
    assert main(["-C", str(root), "register", "tiny", "--version", "v1.0.0", "--env", "production"]) == 0
    assert main(["-C", str(root), "register", "tiny", "--env", "staging"]) == 0
    out = capsys.readouterr().out
    assert "created git tag tiny@v0.0.1" in out and "created git tag tiny#production#2" in out

    names = sorted(t.name for t in r.tags)
    assert names == ["tiny#production#2", "tiny#staging#1", "tiny#staging#3", "tiny@v0.0.1", "tiny@v1.0.0"]
    assert all(GTO_TAG.match(name) for name in names), "every tag must be one GTO can read"
    assert r.tags["tiny@v0.0.1"].commit.hexsha == first and r.tags["tiny@v1.0.0"].commit.hexsha == second
    tag = r.tags["tiny#staging#1"].tag
    assert tag is not None, "annotated, so the tagger and date are kept"
    assert tag.message.startswith("Assigning stage staging to artifact tiny version v0.0.1")
    assert "smoke tests green" in tag.message
    assert tag.tagger.name == "llmops tests"

    events = registry.events(r)
    assign = [e for e in events if e.action == "assign"]
    assert [(e.environment, e.version, e.counter) for e in assign] == [
        ("staging", "v0.0.1", 1),
        ("production", "v1.0.0", 2),
        ("staging", "v1.0.0", 3),
    ]
    state = registry.state(events)["tiny"]
    assert [v["version"] for v in state["versions"]] == ["v1.0.0", "v0.0.1"]
    assert state["environments"]["staging"]["version"] == "v1.0.0"
    assert state["environments"]["production"]["version"] == "v1.0.0"
    assert state["environments"]["production"]["by"] == "llmops tests <tests@llmops.invalid>"

    assert main(["-C", str(root), "audit", "--format", "json", "--name", "tiny"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["registry"]["models"]["tiny"]["environments"]["staging"]["version"] == "v1.0.0"
    assert len(report["registry"]["events"]) == 5
    assert main(["-C", str(root), "audit"]) == 0
    table = capsys.readouterr().out
    assert "Registry:" in table and "tiny: versions v1.0.0, v0.0.1" in table
    assert "production: v1.0.0 since" in table


def test_audit_rows_name_the_versions_tagged_at_their_commit(repo, capsys):
    root, r = repo
    (root / "specs" / "tiny.yaml").write_text(
        "kind: FineTune\nname: tiny\nbase_model: {hub: o/m}\ndataset: d\nprompt: p\n"
    )
    r.index.add(["specs/tiny.yaml"])
    r.index.commit("Real spec (#3)\n\nApproved-by: A <a@x>\n")
    assert main(["-C", str(root), "register", "tiny", "--env", "prod"]) == 0
    capsys.readouterr()
    assert main(["-C", str(root), "audit", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["changes"]
    assert rows[-1]["versions"] == ["tiny#prod#1", "tiny@v0.0.1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["register", "tiny", "--version", "1.x"], "not a semantic version"),
        (["register", "bad name!"], "not a valid model name"),
        (["register", "tiny", "--env=prod!"], "not a valid environment"),
        (["register", "tiny", "--ref", "nope"], "unknown git ref"),
    ],
)
def test_usage_errors(repo, capsys, argv, message):
    root, _ = repo
    assert main(["-C", str(root), *argv]) == 2
    assert message in capsys.readouterr().err


def test_no_double_registration(repo, capsys):
    root, r = repo
    assert main(["-C", str(root), "register", "tiny", "--version", "1.2.3"]) == 0
    assert r.tags["tiny@v1.2.3"]
    assert main(["-C", str(root), "register", "tiny"]) == 2
    assert "registered at" in capsys.readouterr().err
    assert main(["-C", str(root), "register", "tiny", "--version", "v2.0.0", "--env", "x1"]) == 2
    _commit(r, root, "kind: FineTune\nname: tiny\n# 3\n", 3)
    assert main(["-C", str(root), "register", "tiny", "--version", "v1.2.3"]) == 2
    assert main(["-C", str(root), "register", "tiny"]) == 0
    assert "tiny@v1.2.4" in [t.name for t in r.tags], "the next patch after the greatest version"


def test_not_a_git_repository(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "register", "tiny"]) == 2


@pytest.mark.parametrize(
    ("tag", "parsed"),
    [
        ("m@v1.0.0", {"action": "register", "version": "v1.0.0"}),
        ("m@v1.0.0!", {"action": "deregister", "version": "v1.0.0"}),
        ("m#prod#4", {"action": "assign", "environment": "prod", "counter": 4}),
        ("m#prod!#5", {"action": "unassign", "environment": "prod", "counter": 5}),
        ("m@deprecated", {"action": "deprecate"}),
        ("release-1.0", None),
        ("m@1.0.0", None),
    ],
)
def test_parse_tag(tag, parsed):
    result = registry.parse_tag(tag)
    if parsed is None:
        assert result is None
    else:
        assert {k: result[k] for k in parsed} == parsed and result["model"] == "m"


def test_gto_reads_our_registry(repo, monkeypatch):
    """GTO itself, where installed, sees the same versions and environments as llmops does."""
    gto_api = pytest.importorskip("gto.api")
    root, r = repo
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T10:00:00+0000")  # the tag dates
    registry.register(r, "tiny", environment="staging")
    _commit(r, root, "kind: FineTune\nname: tiny\n# 2\n", 2)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-02T10:00:00+0000")
    registry.register(r, "tiny", version="v1.0.0", environment="production")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-03T10:00:00+0000")
    registry.register(r, "tiny", environment="staging")
    shown = gto_api.show(str(root))["tiny"]
    assert shown["version"] == "v1.0.0"
    assert shown["stage"] == {"staging": "v1.0.0", "production": "v1.0.0"}
    ours = registry.state(registry.events(r))["tiny"]
    assert {env: a["version"] for env, a in ours["environments"].items()} == shown["stage"]
