"""Walk a branch's first-parent history and record every change to a FineTune or Deployment spec.

Each commit on the first-parent line of a branch is one landing: a GitHub merge commit
(`Merge pull request #12 from org/branch`, two parents), a squash merge (subject ending in
`(#13)`), or a direct push. For every such commit that touched a spec file, the specs are told
apart by the `kind` and `name` inside the YAML, so a renamed file is still the same spec. The
approvals come from `Approved-by:` / `Reviewed-by:` trailers, or with `--github` from the GitHub
API: the pull request GitHub says was merged as the commit (never the number its subject
claims) and the reviews of its head. The gate results and metrics are the DVC metrics files
committed in the same tree (`cache: false`, so git tracks them). Specs are read as `llmops compile` reads them
(`llmops.audit.specs`); a spec that does not parse at some commit is recorded as `unparseable`,
with the reason in its notes and what could be read of it, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import PurePosixPath
from typing import Any

from llmops.audit.pulls import PullsAPI, Unreachable, Unverified, head_approvals, merged_pull
from llmops.audit.specs import CommitSpecs, SpecEntry, read_commit_specs
from llmops.audit.tree import TreeFacts
from llmops.compiler.kinds import Deployment
from llmops.compiler.parse import SPEC_SUFFIXES
from llmops.github import GitHubError

TRACKED_KINDS = ("FineTune", "Deployment")

_MERGE_PR = re.compile(r"^Merge pull request #(\d+) from (\S+)")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")
_REVERT_SHA = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.+?)\s*$")
_PERSON = re.compile(r"^(.*?)\s*<([^>]*)>\s*$")
APPROVAL_KEYS = ("approved-by", "reviewed-by")


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
    merge_style: str  # merge | squash | rebase (GitHub API) | direct
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


def _who(actor) -> str:
    return f"{actor.name} <{actor.email}>" if actor.email else str(actor.name)


def _iso(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def landing(
    repo, commit, github: str | None = None, api: PullsAPI | None = None, branch: str = "main"
) -> Landing:
    """PR number, merge style, author and approvals of one first-parent commit.

    With `github` (owner/repo) and `api`, the pull request is the one GitHub says was merged
    into `branch` as this commit, and its approvals are the reviews of its head
    (`llmops.audit.pulls`); a subject's `(#12)` or `Merge pull request #12` is not believed.
    Without them (or when GitHub cannot be asked, which a note says), the record is what the
    commit says of itself: its subject and its `Approved-by:` / `Reviewed-by:` trailers."""
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
    if github and api is not None:
        try:
            pull = merged_pull(api, github, commit.hexsha, _branch_name(branch), subject)
            reviewed = head_approvals(api.reviews(github, pull.number), pull.head, pull.author)
        except (Unreachable, GitHubError) as exc:  # the record stays what git says, noted
            notes.append(f"GitHub reviews unavailable: {exc}")
        except Unverified as exc:  # GitHub answered: no pull request was merged as this commit
            notes = [n for n in notes if not n.startswith(("direct push", "merge commit without"))]
            notes.append(f"not a pull request on GitHub: {exc}")
            pr, approvals, source = None, [], "none"
            style = "merge" if len(commit.parents) >= 2 else "direct"
        else:
            pr, approvals, source = pull.number, reviewed.approvers, "github-api"
            if style == "direct":
                style = "rebase"
            notes += [f"review not counted: {n}" for n in reviewed.not_counted]
    if pr is not None and not approvals:
        notes.append("no approval recorded")
    revert = None
    if subject.startswith('Revert "'):
        found = _REVERT_SHA.search(message)
        revert = found.group(1) if found else None
    return Landing(pr, style, author, merged_by, approvals, source, revert, notes)


def _branch_name(branch: str) -> str:
    """`main` of `main`, `origin/main` or `refs/remotes/origin/main`: what a pull request's
    base ref says."""
    for lead in ("refs/remotes/origin/", "refs/heads/", "origin/"):
        if branch.startswith(lead):
            return branch[len(lead) :]
    return branch


def walk(
    repo,
    branch: str = "main",
    *,
    prefix: str = "",
    github: str | None = None,
    api: PullsAPI | None = None,
    tags_by_commit: dict[str, list[str]] | None = None,
) -> tuple[list[Change], list[SpecSummary]]:
    """Every change to a tracked spec on `branch`'s first-parent line, oldest first, and where
    each spec stands at the branch's head."""
    changes: list[Change] = []
    known: dict[str, tuple[str | None, str]] = {}  # path -> (kind, name) last seen there
    summaries: dict[tuple[str | None, str], SpecSummary] = {}
    pr_cache: dict[str, Landing] = {}
    specs_at = _SpecsCache(prefix)
    for commit in repo.iter_commits(branch, first_parent=True, reverse=True):
        parent = commit.parents[0] if commit.parents else None
        paths = _changed_specs(commit, parent, prefix, specs_at)
        if not paths:
            continue
        now = specs_at(commit.tree)
        then = specs_at(parent.tree) if parent is not None else None
        old: dict[tuple[str | None, str], SpecEntry] = {}
        new: dict[tuple[str | None, str], SpecEntry] = {}
        for path in sorted(paths):
            before = then.entries.get(path) if then is not None else None
            if before is not None:
                key = _identity(before) or known.get(path)
                if key is not None:
                    old[key] = before
            after = now.entries.get(path)
            if after is not None:
                key = _identity(after) or known.get(path) or (None, PurePosixPath(path).stem)
                new[key] = after
                known[path] = key
        facts: TreeFacts | None = None
        info: Landing | None = None
        for key in sorted(set(old) | set(new), key=lambda k: (k[0] or "", k[1])):
            kind, name = key
            if kind is not None and kind not in TRACKED_KINDS:
                continue
            before = old.get(key)
            after = new.get(key)
            if before and after and _same(before, after):
                continue  # only formatting or comments changed
            if after is None:
                change = "deleted"
            elif before is None:
                change = "added"
            else:
                was, status_now = _status(before), _status(after)
                if was != "retired" and status_now == "retired":
                    change = "retired"
                elif was == "retired" and status_now is not None and status_now != "retired":
                    change = "reactivated"
                else:
                    change = "modified"
            if info is None:
                info = pr_cache.setdefault(commit.hexsha, landing(repo, commit, github, api, branch))
            if facts is None:
                facts = TreeFacts(commit.tree, prefix, now)
            parseable = after is None or after.parses
            # What the row shows: this commit's spec, as much of it as could be read, else the
            # last version that could.
            current = next((e.spec for e in (after, before) if e is not None and e.spec is not None), None)
            shown = after or before
            status = _status(shown) if kind == "Deployment" else None
            deployed = current if isinstance(current, Deployment) else None
            why = (
                []
                if parseable or after is None
                else [f"spec does not parse at this commit: {after.problems[0]}"]
            )
            row = Change(
                kind=kind,
                name=name,
                path=shown.path,
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
                environment=deployed.environment if kind == "Deployment" and deployed else None,
                model=deployed.model.label if kind == "Deployment" and deployed else None,
                renamed_from=before.path if before and after and before.path != after.path else None,
                revert_of=info.revert_of,
                versions=sorted(
                    t for t in (tags_by_commit or {}).get(commit.hexsha, []) if _tag_artifact(t) == name
                ),
                notes=list(info.notes) + why + now.project_notes() + _stale_note(facts),
            )
            changes.append(row)
            _summarise(summaries, row)
    return changes, sorted(summaries.values(), key=lambda s: (s.kind or "", s.name))


def _stale_note(facts: TreeFacts) -> list[str]:
    """The metrics a row shows are only this commit's when its dvc.lock is fresh: say so when not."""
    stale = facts.stale()
    if not stale:
        return []
    return [f"results at this commit are stale (not what its specs produce): {'; '.join(stale[:3])}"]


class _SpecsCache:
    """The specs of the last few trees: each commit's tree is the next one's parent's."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._recent: dict[str, CommitSpecs] = {}

    def __call__(self, tree) -> CommitSpecs:
        found = self._recent.pop(tree.hexsha, None) or read_commit_specs(tree, self.prefix)
        self._recent[tree.hexsha] = found
        while len(self._recent) > 4:
            self._recent.pop(next(iter(self._recent)))
        return found


def _changed_specs(commit, parent, prefix: str, specs_at: _SpecsCache) -> set[str]:
    """Project-relative paths of the spec files the commit added, changed or deleted."""
    if parent is None:
        return set(specs_at(commit.tree).entries)
    changed = {
        p[len(prefix) :]
        for d in parent.diff(commit)
        for p in (d.a_path, d.b_path)
        if p and p.startswith(prefix)
    }
    if not any(p.endswith(SPEC_SUFFIXES) for p in changed):
        return set()  # no spec can have changed: skip parsing this commit's specs
    now, then = specs_at(commit.tree).entries, specs_at(parent.tree).entries
    return {p for p in changed if p in now or p in then}


def _identity(entry: SpecEntry) -> tuple[str, str] | None:
    """(kind, name) as the file's YAML says, whether or not the spec validates."""
    return (entry.kind, entry.name) if entry.kind and entry.name else None


def _same(before: SpecEntry, after: SpecEntry) -> bool:
    return before.path == after.path and _identity(after) is not None and before.data == after.data


def _status(entry: SpecEntry | None) -> str | None:
    """A FineTune's or Deployment's `status` (the model's default when unset); None when the
    spec could not be read."""
    spec = entry.spec if entry is not None else None
    return str(spec.status) if spec is not None and hasattr(spec, "status") else None


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
