"""Attack 1, stale results: a pull request that changes a training setting and merges with the
old dvc.lock and metrics is refused by `llmops enforce`, naming the stage and the field, and
`llmops audit` marks the figures it records for that change as stale."""

from __future__ import annotations

import json

from llmops.audit import enforce
from llmops.audit.history import walk
from tests.audit.gitproject import ALICE, BOB, GITHUB, TUNE, failed, start


def _merge_without_rerun(r, number: int, files: dict[str, str]) -> str:
    """A branch that changes `files` and compiles, but keeps the old dvc.lock and metrics."""
    base = r.repo.head.commit
    r.write(files)
    r.compile()  # the stage configs change; nobody ran the pipeline
    branch = r.commit(f"change for #{number}", parents=[base], head=False)
    r.repo.index.reset(branch)
    message = f"Merge pull request #{number} from org/feature-{number}\n\nchange\n\n{ALICE}\n{BOB}\n"
    return r.commit(message, author=GITHUB, parents=[base, branch]).hexsha


def test_a_setting_changed_without_rerunning_is_refused(tmp_path):
    r = start(tmp_path / "repo")
    sha = _merge_without_rerun(r, 2, {"specs/tiny.yaml": TUNE.format(r=16)})
    v = enforce.check(r.repo, sha, source=enforce.Source(trailers=True))
    reasons = failed(v)
    assert list(reasons) == ["results fresh"], reasons
    detail = reasons["results fresh"]
    assert "tune-tiny: params .llmops/stages/tune-tiny.json spec.method.r 8 → 16" in detail


def test_the_same_change_with_its_results_is_allowed(tmp_path):
    r = start(tmp_path / "repo")
    sha = r.pull_request(2, {"specs/tiny.yaml": TUNE.format(r=16)}, [ALICE, BOB])
    v = enforce.check(r.repo, sha, source=enforce.Source(trailers=True))
    assert v.allowed, failed(v)
    assert any(c.name == "results fresh" and c.passed for c in v.checks)


def test_audit_marks_the_figures_of_a_stale_change(tmp_path):
    r = start(tmp_path / "repo")
    _merge_without_rerun(r, 2, {"specs/tiny.yaml": TUNE.format(r=16)})
    changes, _ = walk(r.repo, "main")
    last = [c for c in changes if c.kind == "FineTune"][-1]
    assert last.pr == 2
    assert any("results at this commit are stale" in n and "spec.method.r" in n for n in last.notes)
    first = next(c for c in changes if c.kind == "FineTune")
    assert not any("stale" in n for n in first.notes), json.dumps(first.as_dict())
