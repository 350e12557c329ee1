"""Who approved a pull request, and whether that meets a Policy: counts, required reviewers,
code owners. Approvals come from the GitHub reviews API (logins) or the merge commit's
`Approved-by:` / `Reviewed-by:` trailers (names and emails); an approval by the change's own
author never counts, as on GitHub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmops.audit import codeowners
from llmops.audit.history import parse_trailers
from llmops.audit.verdict import Verdict
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


def approvers(commit, info, api_failed: list[str]) -> list[Approver]:
    if api_failed:
        return []
    if info.approval_source == "github-api":
        return [Approver(name=login, login=login) for login in info.approvals]
    message = commit.message if isinstance(commit.message, str) else commit.message.decode("utf-8", "replace")
    author_email = _email(info.author)
    found: dict[str, Approver] = {}
    for key, value in parse_trailers(message):
        if key not in ("approved-by", "reviewed-by"):
            continue
        name, email = name_email(value)
        approver = Approver(
            name=name.lstrip("@"), email=email, login=name[1:] if name.startswith("@") else ""
        )
        ident = (email or name).lower()
        # An approval by the change's own author does not count (GitHub forbids it too).
        if ident not in found and not (email and email.lower() == author_email):
            found[ident] = approver
    return list(found.values())


def name_email(value: str) -> tuple[str, str]:
    if "<" in value and value.rstrip().endswith(">"):
        name, email = value.rsplit("<", 1)
        return name.strip(), email.rstrip(">").strip()
    return value.strip(), ""


def _email(who: str) -> str:
    return name_email(who)[1].lower()


def check_count(verdict: Verdict, approvers: list[Approver], needed: int, because: list[str]) -> None:
    have = len(approvers)
    who = ", ".join(str(a) for a in approvers) or "nobody"
    why = f" ({'; '.join(because)})" if because else ""
    if have >= needed:
        verdict.add("approvals", True, f"{have} of {needed} needed{why}: {who}")
    else:
        verdict.add(
            "approvals",
            False,
            f"pull request #{verdict.pr} has {have} approval{'s' if have != 1 else ''} ({who}); "
            f"{needed} needed{why}",
        )


def _matches(approver: Approver, entry: str, fetch_team: TeamFetcher | None) -> bool | None:
    """Whether an approver is a reviewer entry (`@user`, `@org/team`, an email); None: unknown."""
    entry = entry.strip()
    if "/" in entry:
        if fetch_team is None:
            return None
        org, team = entry.lstrip("@").split("/", 1)
        return (
            approver.login.lower() in {m.lower() for m in fetch_team(org, team)} if approver.login else False
        )
    return entry.lstrip("@").lower() in approver.handles()


def check_reviewers(
    verdict: Verdict, approvers: list[Approver], reviewers: list[str], fetch_team: TeamFetcher | None
) -> None:
    missing, unknown = [], []
    for entry in reviewers:
        results = [_matches(a, entry, fetch_team) for a in approvers]
        if any(results):
            continue
        (unknown if None in results or ("/" in entry and fetch_team is None) else missing).append(entry)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(
                f"required reviewer{'s' if len(missing) > 1 else ''} {', '.join(missing)} did not approve"
            )
        if unknown:
            parts.append(
                f"team membership of {', '.join(unknown)} cannot be read from git: run with a GitHub token "
                "that can read the organisation's teams"
            )
        verdict.add("required reviewers", False, "; ".join(parts))
    else:
        verdict.add("required reviewers", True, ", ".join(reviewers))


def check_codeowners(
    verdict: Verdict, commit, prefix: str, approvers: list[Approver], paths: list[str], fetch_team
) -> None:
    base = commit.parents[0].tree if commit.parents else commit.tree
    text = next((t for loc in codeowners.LOCATIONS if (t := blob_text(base, loc)) is not None), None)
    if text is None:
        verdict.add(
            "code owners", False, "a policy requires code-owner approval but the base has no CODEOWNERS"
        )
        return
    rules = codeowners.parse(text)
    unowned_ok, missing = 0, []
    for path in paths:
        owners = codeowners.owners_of(rules, prefix + path)
        if not owners:
            unowned_ok += 1
        elif not any(_matches(a, o, fetch_team) for a in approvers for o in owners):
            missing.append(f"{path} ({' '.join(owners)})")
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        verdict.add("code owners", False, f"no code owner approved: {shown}")
    else:
        verdict.add("code owners", True, f"{len(paths) - unowned_ok} owned path(s) approved by an owner")
