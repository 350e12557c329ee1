"""Are the results a commit carries the results of that commit? Its `dvc.lock` is checked
against the stages and inputs the same commit holds (`llmops.results.freshness`), so a pull
request that changes a setting without running again (its old metrics still in place) is
refused by `llmops enforce` and marked in `llmops audit`, naming the stage and what changed."""

from __future__ import annotations

from llmops.audit.verdict import Verdict

SHOWN = 5


def stale_results(tree, prefix: str) -> list[str]:
    """One line per stale stage (empty: the results are fresh); a dvc.yaml that cannot be
    read is a line too, never an exception."""
    from llmops.results.files import TreeFiles
    from llmops.results.freshness import freshness, summarize

    try:
        found = freshness(TreeFiles(tree, prefix))
    except ValueError as exc:
        return [f"dvc.yaml cannot be read at this commit: {exc}"]
    return summarize(found.stale)


def check_fresh(verdict: Verdict, tree, prefix: str) -> None:
    """The `results fresh` check of a verdict."""
    lines = stale_results(tree, prefix)
    if not lines:
        verdict.add("results fresh", True, "dvc.lock is the result of this commit's specs and inputs")
        return
    more = f"; and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    verdict.add(
        "results fresh",
        False,
        "dvc.lock is not the result of this commit's specs and inputs: "
        + "; ".join(lines[:SHOWN])
        + more
        + " (merge only after CI's `llmops results` job passed on the pull request's head)",
    )
