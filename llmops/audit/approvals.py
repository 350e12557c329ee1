"""Who approved a pull request, and whether that meets a Policy: counts, required reviewers,
code owners. Approvals come from the GitHub reviews API (logins of reviews on the head,
`llmops.audit.pulls`) or, as an explicit local choice, the commit's `Approved-by:` /
`Reviewed-by:` trailers (people by email); an approval by whoever made the change never
counts, as on GitHub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmops.audit import codeowners
from llmops.audit.history import APPROVAL_KEYS, parse_trailers
from llmops.audit.verdict import Verdict
from llmops.github import GitHubError
from llmops.gitrepo import blob_text

NOREPLY = "@users.noreply.github.com"
# (org, team slug) -> member logins; needs a token that can read the organisation's teams.
TeamFetcher = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class Approver:
    """Who approved: a GitHub login (reviews API) or a trailer's name and email."""

    name: str
    email: str = ""
    login: str = ""

    def handles(self) -> set[str]:
        """Every spelling of this person a reviewer entry may use, lower-cased."""
        found = {h.lower() for h in (self.login, self.name) if h}
        if self.email:
            # alice@example.com, or 12345+alice@users.noreply.github.com, answers to @alice
            email = self.email.lower()
            local = email.split("@", 1)[0]
            found |= {email, local.split("+", 1)[-1] if email.endswith(NOREPLY) else local}
        return found

    def __str__(self) -> str:
        return self.login or self.name or self.email


def trailer_approvers(repo, commit) -> tuple[list[Approver], list[str]]:
    """Who approved per the commit's `Approved-by:` / `Reviewed-by:` trailers (trailer mode, an
    explicit local choice), and each trailer that did not count with why.

    A trailer is a person only by its email: a bare name (`Approved-by: Mallory`) proves
    nothing and never counts. One email counts once, whichever key names it. Nobody who made
    the change approves it: not the commit's author or committer (who pressed merge, or
    wrote the squash), not an author or committer of the pull request branch's commits."""
    message = commit.message if isinstance(commit.message, str) else commit.message.decode("utf-8", "replace")
    makers = _makers(repo, commit)
    found: dict[str, Approver] = {}
    not_counted: list[str] = []
    for key, value in parse_trailers(message):
        if key not in APPROVAL_KEYS:
            continue
        name, email = name_email(value)
        shown = value.strip()
        if not email or "@" not in email:
            not_counted.append(f"{shown} (a trailer without an email names nobody)")
            continue
        ident = email.lower()
        if ident in makers:
            not_counted.append(f"{shown} ({makers[ident]})")
        elif ident in found:
            not_counted.append(f"{shown} again (one person counts once)")
        else:
            found[ident] = Approver(
                name=name.lstrip("@"), email=email, login=name[1:] if name.startswith("@") else ""
            )
    return list(found.values()), not_counted


def _makers(repo, commit) -> dict[str, str]:
    """Lower-cased email -> how that person made the change (never an approver of it)."""
    found: dict[str, str] = {}
    for actor, role in ((commit.author, "the commit's author"), (commit.committer, "the commit's committer")):
        if actor.email:
            found.setdefault(actor.email.lower(), role)
    branch: list = []
    if len(commit.parents) >= 2:
        for tip in commit.parents[1:]:
            branch += list(repo.iter_commits(f"{commit.parents[0].hexsha}..{tip.hexsha}"))
    for made in branch:
        for actor in (made.author, made.committer):
            if actor.email:
                found.setdefault(actor.email.lower(), "wrote a commit of the pull request")
    return found


def name_email(value: str) -> tuple[str, str]:
    if "<" in value and value.rstrip().endswith(">"):
        name, email = value.rsplit("<", 1)
        return name.strip(), email.rstrip(">").strip()
    return value.strip(), ""


def check_count(
    verdict: Verdict,
    approvers: list[Approver],
    needed: int,
    because: list[str],
    not_counted: list[str] | None = None,
) -> None:
    have = len(approvers)
    who = ", ".join(str(a) for a in approvers) or "nobody"
    why = f" ({'; '.join(because)})" if because else ""
    skipped = f"; not counted: {'; '.join(not_counted)}" if not_counted else ""
    if have >= needed:
        verdict.add("approvals", True, f"{have} of {needed} needed{why}: {who}{skipped}")
    else:
        verdict.add(
            "approvals",
            False,
            f"pull request #{verdict.pr} has {have} approval{'s' if have != 1 else ''} ({who}); "
            f"{needed} needed{why}{skipped}",
        )


def _matches(
    approver: Approver, entry: str, fetch_team: TeamFetcher | None, errors: list[str]
) -> bool | None:
    """Whether an approver is a reviewer entry (`@user`, `@org/team`, an email); None: unknown
    (no way to read the team, or GitHub did not answer: then `errors` says why)."""
    entry = entry.strip()
    if "/" in entry:
        if fetch_team is None:
            return None
        org, team = entry.lstrip("@").split("/", 1)
        try:
            members = fetch_team(org, team)
        except GitHubError as exc:
            if str(exc) not in errors:
                errors.append(str(exc))
            return None
        return approver.login.lower() in {m.lower() for m in members} if approver.login else False
    return entry.lstrip("@").lower() in approver.handles()


def check_reviewers(
    verdict: Verdict, approvers: list[Approver], reviewers: list[str], fetch_team: TeamFetcher | None
) -> None:
    missing, unknown, errors = [], [], []
    for entry in reviewers:
        results = [_matches(a, entry, fetch_team, errors) for a in approvers]
        if any(results):
            continue
        (unknown if None in results or ("/" in entry and fetch_team is None) else missing).append(entry)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(
                f"required reviewer{'s' if len(missing) > 1 else ''} {', '.join(missing)} did not approve"
            )
        if unknown and errors:
            parts.append(f"team membership of {', '.join(unknown)} could not be read: {'; '.join(errors)}")
        elif unknown:
            parts.append(
                f"team membership of {', '.join(unknown)} cannot be read from git: run with a GitHub token "
                "that can read the organisation's teams"
            )
        verdict.add("required reviewers", False, "; ".join(parts))
    else:
        verdict.add("required reviewers", True, ", ".join(reviewers))


def check_codeowners(
    verdict: Verdict, bases: list, prefix: str, approvers: list[Approver], paths: list[str], fetch_team
) -> None:
    """Every changed path some owner owns was approved by one of its owners, per the CODEOWNERS
    of each base tree (`bases`: the base commits' trees, as GitHub reads it from the base; a
    rebase's first parent and the pull request's base SHA may differ, and each must hold)."""
    texts = [
        next((t for loc in codeowners.LOCATIONS if (t := blob_text(base, loc)) is not None), None)
        for base in bases
    ]
    if not texts or any(t is None for t in texts):
        verdict.add(
            "code owners", False, "a policy requires code-owner approval but the base has no CODEOWNERS"
        )
        return
    unowned_ok, missing, errors = 0, [], []
    for path in paths:
        owned = False
        for text in dict.fromkeys(texts):
            owners = codeowners.owners_of(codeowners.parse(text), prefix + path)
            owned = owned or bool(owners)
            if owners and not any(_matches(a, o, fetch_team, errors) for a in approvers for o in owners):
                missing.append(f"{path} ({' '.join(owners)})")
        unowned_ok += 0 if owned else 1
    if missing:
        missing = list(dict.fromkeys(missing))
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        unread = f" (team membership could not be read: {'; '.join(errors)})" if errors else ""
        verdict.add("code owners", False, f"no code owner approved: {shown}{unread}")
    else:
        verdict.add("code owners", True, f"{len(paths) - unowned_ok} owned path(s) approved by an owner")
