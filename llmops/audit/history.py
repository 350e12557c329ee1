"""Walk a branch's first-parent history and record every change to a FineTune or Deployment spec.

Each commit on the first-parent line of a branch is one landing: a GitHub merge commit
(`Merge pull request #12 from org/branch`, two parents), a squash merge (subject ending in
`(#13)`), or a direct push. For every such commit that touched a spec file, the specs are told
apart by the `kind` and `name` inside the YAML, so a renamed file is still the same spec. The
approvals come from `Approved-by:` / `Reviewed-by:` trailers (or the GitHub API, through an
injected fetcher); the gate results and metrics are the DVC metrics files committed in the same
tree (`cache: false`, so git tracks them). A spec that does not parse at some commit is recorded
as `unparseable`, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import PurePosixPath
from typing import Any

from llmops.audit.tree import (
    TreeFacts,
    is_spec,
    spec_doc,
    spec_roots,
)

TRACKED_KINDS = ("FineTune", "Deployment")

_MERGE_PR = re.compile(r"^Merge pull request #(\d+) from (\S+)")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")
_REVERT_SHA = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.+?)\s*$")
_PERSON = re.compile(r"^(.*?)\s*<([^>]*)>\s*$")
APPROVAL_KEYS = ("approved-by", "reviewed-by")


# (owner/repo, pr number) -> the reviews GitHub returns for it.
ReviewFetcher = Callable[[str, int], list[dict[str, Any]]]


@dataclass
class Change:
    """One row of the audit: one spec changed by one commit on the branch."""

    kind: str | None
    name: str
    path: str
    change: str  # added | modified | retired | reactivated | deleted
    commit: str
    date: str
    author: str
    committer: str
    subject: str
    pr: int | None
    merge_style: str  # merge | squash | direct
    direct: bool
    merged_by: str | None
    approvals: list[str]
    approval_source: str  # trailer | merge-commit | github-api | none
    gate: dict[str, str]
    metrics: dict[str, float | int | str | None]
    parseable: bool = True
    status: str | None = None  # active | retired for a Deployment; None otherwise
    environment: str | None = None
    model: str | None = None
    renamed_from: str | None = None
    revert_of: str | None = None
    versions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SpecSummary:
    kind: str | None
    name: str
    path: str
    state: str  # active | retired | deleted | unparseable
    added_at: str | None = None
    retired_at: str | None = None
    deleted_at: str | None = None
    last_change: str | None = None
    changes: int = 0


@dataclass
class Landing:
    """How one first-parent commit reached the branch."""

    pr: int | None
    merge_style: str
    author: str
    merged_by: str | None
    approvals: list[str]
    approval_source: str
    revert_of: str | None
    notes: list[str]


def parse_trailers(message: str) -> list[tuple[str, str]]:
    """`Key: value` lines of a message's last paragraph, as `git interpret-trailers --parse` does
    for the common case (every line of the paragraph a trailer, or a continuation line)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:  # the subject alone carries no trailers
        return []
    found: list[tuple[str, str]] = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line)
        if match:
            found.append((match.group(1).lower(), match.group(2)))
        elif line[:1].isspace() and found:
            key, value = found[-1]
            found[-1] = (key, f"{value} {line.strip()}")
        else:
            return []
    return found


def person_name(value: str) -> str:
    match = _PERSON.match(value)
    name = (match.group(1) if match else value).strip()
    return name or (match.group(2) if match else value)


def approvals_from_trailers(message: str) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for key, value in parse_trailers(message):
        if key not in APPROVAL_KEYS:
            continue
        match = _PERSON.match(value)
        ident = (match.group(2) if match else value).strip().lower()
        if ident not in seen:
            seen.add(ident)
            names.append(person_name(value))
    return names


def approvals_from_reviews(reviews: Iterable[dict[str, Any]]) -> list[str]:
    """Distinct users whose last deciding review (APPROVED / CHANGES_REQUESTED / DISMISSED) approved."""
    last: dict[str, str] = {}
    for review in reviews:
        user = ((review.get("user") or {}).get("login")) or ""
        state = str(review.get("state") or "").upper()
        if user and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            last.pop(user, None)
            last[user] = state
    return [user for user, state in last.items() if state == "APPROVED"]


def _who(actor) -> str:
    return f"{actor.name} <{actor.email}>" if actor.email else str(actor.name)


def _iso(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def landing(repo, commit, github: str | None = None, fetch_reviews: ReviewFetcher | None = None) -> Landing:
    """PR number, merge style, author and approvals of one first-parent commit."""
    message = commit.message if isinstance(commit.message, str) else commit.message.decode("utf-8", "replace")
    subject = message.split("\n", 1)[0].strip()
    notes: list[str] = []
    pr: int | None = None
    merged_by: str | None = None
    author = _who(commit.author)
    merge = _MERGE_PR.match(subject)
    if len(commit.parents) >= 2:
        style = "merge"
        merged_by = _who(commit.committer)
        if merge:
            pr = int(merge.group(1))
        else:
            notes.append("merge commit without a pull request")
        # The change's author is whoever wrote the branch, not whoever pressed merge.
        branch_authors = [
            _who(c.author)
            for c in repo.iter_commits(f"{commit.parents[0].hexsha}..{commit.parents[1].hexsha}")
        ]
        if branch_authors:
            author = branch_authors[-1]  # oldest commit of the branch
    elif squash := _SQUASH_PR.search(subject):
        style = "squash"
        pr = int(squash.group(1))
        merged_by = _who(commit.committer)
    else:
        style = "direct"
        notes.append("direct push: no pull request")
    approvals = approvals_from_trailers(message)
    source = ("merge-commit" if style == "merge" else "trailer") if approvals else "none"
    if github and pr is not None and fetch_reviews is not None:
        try:
            approvals = approvals_from_reviews(fetch_reviews(github, pr))
            source = "github-api"
        except Exception as exc:  # an API outage must not hide the record from git
            notes.append(f"GitHub reviews unavailable: {exc}")
    if pr is not None and not approvals:
        notes.append("no approval recorded")
    revert = None
    if subject.startswith('Revert "'):
        found = _REVERT_SHA.search(message)
        revert = found.group(1) if found else None
    return Landing(pr, style, author, merged_by, approvals, source, revert, notes)


def walk(
    repo,
    branch: str = "main",
    *,
    prefix: str = "",
    github: str | None = None,
    fetch_reviews: ReviewFetcher | None = None,
    tags_by_commit: dict[str, list[str]] | None = None,
) -> tuple[list[Change], list[SpecSummary]]:
    """Every change to a tracked spec on `branch`'s first-parent line, oldest first, and where
    each spec stands at the branch's head."""
    changes: list[Change] = []
    known: dict[str, tuple[str | None, str]] = {}  # path -> (kind, name) last seen there
    summaries: dict[tuple[str | None, str], SpecSummary] = {}
    pr_cache: dict[str, Landing] = {}
    for commit in repo.iter_commits(branch, first_parent=True, reverse=True):
        parent = commit.parents[0] if commit.parents else None
        roots = spec_roots(commit.tree, prefix)
        old_roots = spec_roots(parent.tree, prefix) if parent else []
        if parent is None:
            paths = {
                item.path: None
                for item in commit.tree.traverse()
                if item.type == "blob" and is_spec(item.path, roots, prefix)
            }
        else:
            paths = {}
            for diff in parent.diff(commit):
                for path in (diff.a_path, diff.b_path):
                    if path and (is_spec(path, roots, prefix) or is_spec(path, old_roots, prefix)):
                        paths[path] = None
        if not paths:
            continue
        old: dict[tuple[str | None, str], tuple[str, dict | None]] = {}
        new: dict[tuple[str | None, str], tuple[str, dict | None]] = {}
        for path in sorted(paths):
            if parent is not None and is_spec(path, old_roots, prefix):
                exists, doc = spec_doc(parent.tree, path)
                if exists:
                    key = (doc["kind"], str(doc["name"])) if doc else known.get(path)
                    if key is not None:
                        old[key] = (path, doc)
            if is_spec(path, roots, prefix):
                exists, doc = spec_doc(commit.tree, path)
                if exists:
                    key = (doc["kind"], str(doc["name"])) if doc else known.get(path)
                    if key is None:
                        key = (None, PurePosixPath(path).stem)
                    new[key] = (path, doc)
                    known[path] = key
        facts: TreeFacts | None = None
        info: Landing | None = None
        for key in sorted(set(old) | set(new), key=lambda k: (k[0] or "", k[1])):
            kind, name = key
            if kind is not None and kind not in TRACKED_KINDS:
                continue
            before = old.get(key)
            after = new.get(key)
            if before and after and before[1] == after[1] and before[0] == after[0] and after[1] is not None:
                continue  # only formatting or comments changed
            if after is None:
                change = "deleted"
                doc = before[1] if before else None
            elif before is None:
                change = "added"
                doc = after[1]
            else:
                doc = after[1]
                was = (before[1] or {}).get("status", "active") if before[1] else None
                now = (doc or {}).get("status", "active") if doc else None
                if was != "retired" and now == "retired":
                    change = "retired"
                elif was == "retired" and now is not None and now != "retired":
                    change = "reactivated"
                else:
                    change = "modified"
            if info is None:
                info = pr_cache.setdefault(commit.hexsha, landing(repo, commit, github, fetch_reviews))
            if facts is None:
                facts = TreeFacts(commit.tree, prefix, roots)
            parseable = after is None or after[1] is not None
            current = doc if parseable else (before[1] if before else None)
            status = None
            if kind == "Deployment" and doc:
                status = str(doc.get("status", "active"))
            path = (after or before)[0]
            row = Change(
                kind=kind,
                name=name,
                path=path[len(prefix) :],
                change=change,
                commit=commit.hexsha,
                date=_iso(commit.committed_datetime),
                author=info.author,
                committer=_who(commit.committer),
                subject=commit.summary if isinstance(commit.summary, str) else commit.summary.decode(),
                pr=info.pr,
                merge_style=info.merge_style,
                direct=info.pr is None,
                merged_by=info.merged_by,
                approvals=list(info.approvals),
                approval_source=info.approval_source,
                gate=facts.gate(kind, name, current),
                metrics=facts.metrics(kind, name, current),
                parseable=parseable,
                status=status,
                environment=(current or {}).get("environment") if kind == "Deployment" else None,
                model=_model_label(current) if kind == "Deployment" else None,
                renamed_from=before[0][len(prefix) :] if before and after and before[0] != after[0] else None,
                revert_of=info.revert_of,
                versions=sorted(
                    t for t in (tags_by_commit or {}).get(commit.hexsha, []) if _tag_artifact(t) == name
                ),
                notes=list(info.notes) + ([] if parseable else ["spec does not parse at this commit"]),
            )
            changes.append(row)
            _summarise(summaries, row)
    return changes, sorted(summaries.values(), key=lambda s: (s.kind or "", s.name))


def _model_label(doc: dict | None) -> str | None:
    model = (doc or {}).get("model")
    if isinstance(model, dict):
        for key in ("finetune", "base_of", "deployment", "path", "hub"):
            if model.get(key):
                return f"{key}:{model[key]}"
    return None


def _tag_artifact(tag: str) -> str:
    return re.split(r"[@#]", tag, maxsplit=1)[0]


def _summarise(summaries: dict, row: Change) -> None:
    key = (row.kind, row.name)
    summary = summaries.get(key)
    if summary is None:
        summary = summaries[key] = SpecSummary(row.kind, row.name, row.path, "active", added_at=row.date)
    summary.path = row.path
    summary.changes += 1
    summary.last_change = row.date
    if row.change == "deleted":
        summary.state, summary.deleted_at = "deleted", row.date
    elif not row.parseable:
        summary.state = "unparseable"
    elif row.change == "retired" or (row.change == "added" and row.status == "retired"):
        summary.state, summary.retired_at = "retired", row.date
    elif row.change in ("reactivated", "added"):
        summary.state, summary.retired_at, summary.deleted_at = "active", None, None
    elif summary.state in ("unparseable",):
        summary.state = "retired" if row.status == "retired" else "active"
