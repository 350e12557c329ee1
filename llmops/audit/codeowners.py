"""CODEOWNERS as GitHub reads it: which owners must approve a change to which path.

GitHub looks for the file in `.github/`, the repository root, then `docs/`, on the pull
request's base branch, and the last matching line wins. Patterns follow gitignore rules for
the common cases: a leading `/` anchors to the root, a trailing `/` matches a folder and
everything under it, `*` stays within one path segment, `**` crosses segments, and a pattern
without a `/` (other than a trailing one) matches at any depth. A line with a pattern and no
owners makes the path ownerless again, as on GitHub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True)
class OwnerRule:
    pattern: str
    owners: tuple[str, ...]
    line: int


def parse(text: str) -> list[OwnerRule]:
    rules: list[OwnerRule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("\\#") else raw.strip()
        if not line:
            continue
        pattern, *owners = line.split()
        rules.append(OwnerRule(pattern, tuple(owners), number))
    return rules


def owners_of(rules: list[OwnerRule], path: str) -> tuple[str, ...]:
    """The owners of one repository path (posix, no leading slash); () when nobody owns it."""
    found: tuple[str, ...] = ()
    for rule in rules:
        if _regex(rule.pattern).search(path):
            found = rule.owners
    return found


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    folder = pattern.endswith("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    start = "^" if anchored else "(?:^|/)"
    # A plain name also matches a folder of that name (and so everything under it); a last
    # segment with a wildcard matches within its folder only (`docs/*` is not `docs/a/b.md`).
    last = body.rsplit("/", 1)[-1]
    end = "/" if folder else ("$" if ("*" in last or "?" in last) else "(?:/|$)")
    return re.compile(start + core + end)
