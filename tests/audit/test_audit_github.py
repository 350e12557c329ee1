"""`llmops audit --github` records the pull request GitHub says was merged as each commit, never
the number a subject claims: a direct push titled `(#12)` is not PR 12 approved by bob."""

from __future__ import annotations

import json

from llmops.cli.main import main
from tests.audit.gitproject import GITHUB, TUNE, start
from tests.fakes.github_api import FakeGitHub


def test_a_replayed_pull_request_number_is_not_recorded(tmp_path, capsys, monkeypatch):
    r = start(tmp_path / "repo")
    merged = r.pull_request(12, {"specs/tiny.yaml": TUNE.format(r=16)}, [])
    r.write({"specs/tiny.yaml": TUNE.format(r=32)})
    pushed = r.commit("Tweak the model (#12)").hexsha
    r.write({"specs/tiny.yaml": TUNE.format(r=64)})
    base = r.repo.head.commit
    forged = r.commit(
        "Merge pull request #12 from org/evil\n", author=GITHUB, parents=[base, r.repo.commit(merged)]
    )
    with FakeGitHub() as api:
        head = r.repo.commit(merged).parents[1].hexsha
        api.merged_pull(12, head=head, merge_commit=merged, author="carol")
        api.review(12, "bob")
        monkeypatch.setenv("GITHUB_TOKEN", api.token)
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        assert (
            main(["-C", str(r.root), "audit", "--format", "json", "--github", "org/repo", "--name", "tiny"])
            == 0
        )
    rows = {c["commit"]: c for c in json.loads(capsys.readouterr().out)["changes"]}
    assert (rows[merged]["pr"], rows[merged]["approvals"], rows[merged]["approval_source"]) == (
        12,
        ["bob"],
        "github-api",
    )
    for sha, style in ((pushed, "direct"), (forged.hexsha, "merge")):
        row = rows[sha]
        assert (row["pr"], row["approvals"], row["approval_source"], row["merge_style"]) == (
            None,
            [],
            "none",
            style,
        )
        assert (
            f"not a pull request on GitHub: GitHub lists no pull request merged into main as {sha[:10]}: its "
            f"message names #12, but #12 was merged as {merged[:10]}, not {sha[:10]}"
        ) in row["notes"]
