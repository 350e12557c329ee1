"""What GitHub says about a landing, verified rather than read from the commit: the pull request
that was merged as this commit, the reviews that approved its head, and whether its results
are the ones CI produced for that head.

A commit's message proves nothing (anyone can write `Merge pull request #12` or `(#12)` in a
subject), so the pull request is found from the commit: GitHub's list of the pull requests
associated with it, keeping one that was merged into the main branch *as this commit*
(`merge_commit_sha`, which GitHub sets for merge, squash and rebase merges alike). A review
counts only on that pull request's head SHA, only as its reviewer's latest decision, and never
the author's own. The results (dvc.lock, metrics, plots, reports) must be the head's, and the
`llmops results` check run, made by GitHub Actions, must have succeeded on that head: the
pull-request workflow computed them there.

Shared by `llmops enforce` (`llmops.audit.enforce`) and `llmops audit --github`
(`llmops.audit.history`). What GitHub does not confirm is `Unverified`, and an API failure
`Unreachable` naming the endpoint: enforcement refuses on either, the audit notes them.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmops.compiler.layout import RESULTS_CHECK
from llmops.github import GitHubError
from llmops.gitrepo import blob_text
from llmops.results.pipeline import PIPELINE_FILE, read_pipeline, result_paths

ACTIONS_APP = "github-actions"  # the app slug of check runs made by GitHub Actions jobs
_DECIDING = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
_CLAIMED = (re.compile(r"^Merge pull request #(\d+) from "), re.compile(r"\(#(\d+)\)\s*$"))


class PullsAPI(Protocol):
    """What verification reads from GitHub (`llmops.github.GitHub` is one)."""

    def pull(self, owner_repo: str, number: int) -> dict[str, Any]: ...
    def commit_pulls(self, owner_repo: str, sha: str) -> list[dict[str, Any]]: ...
    def reviews(self, owner_repo: str, number: int) -> list[dict[str, Any]]: ...
    def check_runs(self, owner_repo: str, sha: str, name: str | None = None) -> list[dict[str, Any]]: ...
    def tree(self, owner_repo: str, sha: str) -> dict[str, str]: ...
    def team_members(self, org: str, team: str) -> list[str]: ...


class Unverified(Exception):
    """GitHub does not confirm what was asked, or could not be asked; the message says which."""


class Unreachable(Unverified):
    """GitHub could not be asked (an HTTP error, a timeout, a malformed reply): the message
    names the endpoint."""


@dataclass(frozen=True)
class MergedPull:
    """A pull request GitHub says was merged into `base_ref` as the commit under check."""

    number: int
    author: str  # the login that opened it
    head: str  # the head SHA that was merged: what CI ran on and reviewers approved
    base_ref: str
    base_sha: str | None
    commits: int


@dataclass
class Reviewed:
    """Who approved the head, and whose review did not count, with why."""

    approvers: list[str] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)


def claimed_number(subject: str) -> int | None:
    """The pull request number a subject claims (`Merge pull request #N from`, `... (#N)`):
    only to explain a refusal, never to find the pull request."""
    for pattern in _CLAIMED:
        found = pattern.search(subject)
        if found:
            return int(found.group(1))
    return None


def merged_pull(api: PullsAPI, owner_repo: str, sha: str, branch: str, subject: str = "") -> MergedPull:
    """The pull request merged into `branch` as commit `sha`; `Unverified` when there is none."""
    short = sha[:10]
    try:
        listed = api.commit_pulls(owner_repo, sha)
    except GitHubError as exc:
        raise Unreachable(f"cannot ask GitHub which pull request merged {short}: {exc}") from None
    if not all(isinstance(p.get("number"), int) for p in listed):
        raise Unreachable(f"GitHub's list of the pull requests of {short} has one without a number")
    matching = sorted({p["number"] for p in listed if _mismatch(p, sha, branch) is None})
    if len(matching) > 1:
        shown = ", ".join(f"#{n}" for n in matching)
        raise Unverified(f"GitHub lists several pull requests merged as {short} ({shown})")
    if not matching:
        reasons = [why for p in listed if (why := _mismatch(p, sha, branch))]
        claimed = claimed_number(subject)
        if claimed is not None and claimed not in {p.get("number") for p in listed}:
            reasons.append(_claim(api, owner_repo, claimed, sha, branch))
        why = f": {'; '.join(reasons)}" if reasons else ""
        raise Unverified(f"GitHub lists no pull request merged into {branch} as {short}{why}")
    try:
        pull = api.pull(owner_repo, matching[0])
    except GitHubError as exc:
        raise Unreachable(f"cannot read pull request #{matching[0]}: {exc}") from None
    mismatch = _mismatch(pull, sha, branch)
    if mismatch is not None:
        raise Unverified(mismatch)
    head = (pull.get("head") or {}).get("sha")
    author = (pull.get("user") or {}).get("login")
    if not isinstance(head, str) or not head or not isinstance(author, str) or not author:
        raise Unreachable(f"pull request #{matching[0]}: GitHub's reply has no head SHA or no author")
    base = pull.get("base") or {}
    commits = pull.get("commits")
    return MergedPull(
        number=matching[0],
        author=author,
        head=head,
        base_ref=str(base.get("ref")),
        base_sha=base.get("sha") if isinstance(base.get("sha"), str) else None,
        commits=commits if isinstance(commits, int) else 1,
    )


def _mismatch(pull: dict[str, Any], sha: str, branch: str) -> str | None:
    """Why `pull` is not the pull request merged into `branch` as `sha`; None when it is."""
    number = pull.get("number")
    if not pull.get("merged_at"):
        return f"#{number} is not merged"
    base = (pull.get("base") or {}).get("ref")
    if base != branch:
        return f"#{number} was merged into {base}, not {branch}"
    merged_as = pull.get("merge_commit_sha")
    if merged_as != sha:
        return f"#{number} was merged as {str(merged_as)[:10]}, not {sha[:10]}"
    return None


def _claim(api: PullsAPI, owner_repo: str, number: int, sha: str, branch: str) -> str:
    """Why the pull request a commit's message names is not this landing."""
    try:
        pull = api.pull(owner_repo, number)
    except GitHubError as exc:
        return f"its message names #{number}, which cannot be read ({exc})"
    why = _mismatch(pull, sha, branch)
    if why is None:  # merged as this commit, yet not listed for it: the list is what counts
        return f"its message names #{number}, which GitHub does not list for {sha[:10]}"
    return f"its message names #{number}, but {why}"


def head_approvals(reviews: list[dict[str, Any]], head: str, author: str) -> Reviewed:
    """Logins whose latest deciding review (approve, request changes, dismissed) approves the
    `head` SHA, the pull request's `author` excepted; reviews in GitHub's order, oldest first."""
    latest: dict[str, tuple[str, str, str]] = {}  # lower-cased login -> (login, state, commit)
    approved_once: set[str] = set()
    for review in reviews:
        login = str((review.get("user") or {}).get("login") or "")
        state = str(review.get("state") or "").upper()
        if not login or state not in _DECIDING:
            continue
        key = login.lower()
        latest.pop(key, None)  # keep the order of each reviewer's latest decision
        latest[key] = (login, state, str(review.get("commit_id") or ""))
        if state == "APPROVED":
            approved_once.add(key)
    found = Reviewed()
    for key, (login, state, commit) in latest.items():
        if key == author.lower():
            if state == "APPROVED":
                found.not_counted.append(f"{login} (the pull request's author)")
        elif state != "APPROVED":
            if key in approved_once:
                found.not_counted.append(f"{login} (approval superseded: latest review {state})")
        elif commit != head:
            found.not_counted.append(
                f"{login} (approved {commit[:10] or 'no commit'}, not the head {head[:10]})"
            )
        else:
            found.approvers.append(login)
    return found


def results_check(api: PullsAPI, owner_repo: str, head: str) -> str | None:
    """Why the `llmops results` check run does not prove the head's results; None when it
    does: the latest one GitHub Actions made on the head concluded `success`."""
    try:
        runs = api.check_runs(owner_repo, head, RESULTS_CHECK)
    except GitHubError as exc:
        raise Unreachable(f"cannot read the check runs of the head {head[:10]}: {exc}") from None
    named = [r for r in runs if r.get("name") == RESULTS_CHECK]
    ours = [r for r in named if ((r.get("app") or {}).get("slug")) == ACTIONS_APP]
    if not ours:
        others = sorted({str((r.get("app") or {}).get("slug")) for r in named})
        by = f" (only by {', '.join(others)}, which does not count)" if others else ""
        return (
            f"no '{RESULTS_CHECK}' check run by GitHub Actions on the pull request's head "
            f"{head[:10]}{by}: CI did not produce the results that merged"
        )
    latest = max(ours, key=lambda r: int(r.get("id") or 0))
    run = f"the '{RESULTS_CHECK}' check run on the head {head[:10]}"
    if latest.get("status") != "completed":
        return f"{run} has not completed ({latest.get('status')})"
    if latest.get("conclusion") != "success":
        return f"{run} concluded {latest.get('conclusion')}: CI did not pass the results that merged"
    return None


def results_differ(api: PullsAPI, owner_repo: str, head: str, tree, prefix: str) -> list[str]:
    """The result files (dvc.lock and every output git tracks, per the commit's dvc.yaml) whose
    git object differs between the merged commit's `tree` and the pull request's head."""
    text = blob_text(tree, prefix + PIPELINE_FILE)
    try:
        stages = read_pipeline(text) if text is not None else []
    except ValueError as exc:
        return [f"{prefix}{PIPELINE_FILE} cannot be read ({exc})"]
    try:
        theirs = api.tree(owner_repo, head)
    except GitHubError as exc:
        raise Unreachable(f"cannot read the head {head[:10]}'s tree: {exc}") from None
    differ = []
    for rel in dict.fromkeys(result_paths(stages)):
        path = posixpath.normpath(prefix + rel)
        ours = _object_sha(tree, path)
        there = theirs.get(path)
        if ours == there:
            continue
        if ours is None or there is None:
            differ.append(f"{path} ({'only at the head' if ours is None else 'not at the head'})")
        else:
            differ.append(path)
    return differ


def _object_sha(tree, path: str) -> str | None:
    try:
        return str((tree / path).hexsha)
    except KeyError:
        return None
