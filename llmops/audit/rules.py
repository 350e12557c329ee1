"""The rules a landing is judged by, read from its base as well as from itself.

A pull request must not set its own rules: one that lowers its Policy's `approvals.min`, drops
a required reviewer or turns off code-owner review would otherwise be judged by the rules it
wrote. So the approval count, the required reviewers, code-owner review and the protected
environments' count are read from the base commit (the merged commit's first parent, and for a
squash or rebase of several commits also the pull request's base SHA) and from the commit under
check, through the spec models, and the stricter applies: the largest count, every reviewer
named on either side, code owners when either asks. The base must parse: rules are never read
leniently, since a value dropped as unreadable would loosen them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmops.audit.scope import Scope
from llmops.audit.specs import CommitSpecs
from llmops.compiler.governance import policies_governing
from llmops.compiler.kinds import Policy, Project


@dataclass(frozen=True)
class Side:
    """One commit whose specs the rules are read from."""

    label: str  # "the base 1a2b3c4d5e", "this commit"
    specs: CommitSpecs
    is_base: bool
    sha: str = ""


@dataclass
class Rules:
    """What a landing needs, the stricter of every side."""

    needed: int = 0
    because: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    codeowners: bool = False
    policies: list[str] = field(default_factory=list)  # governing on any side, by name


def required_approvals(project: Project, governing: list[Policy], scope: Scope) -> list[tuple[int, str]]:
    """Each approval count a change needs (per governing policy, and per protected environment
    it touches) with its reason as text."""
    counts = [(p.approvals.min, f"policy {p.name}: {p.approvals.min}") for p in governing]
    governance = project.governance
    hit = sorted(set(governance.protected_environments) & scope.environments)
    if hit:
        counts.append(
            (governance.approvals, f"protected environment {', '.join(hit)}: {governance.approvals}")
        )
    return counts


def governing_policies(specs: CommitSpecs, scope: Scope) -> list[Policy]:
    """The Policies of one side that govern the change (`llmops.compiler.governance`)."""
    return sorted(
        policies_governing(
            specs.policies().values(),
            finetunes=scope.finetunes,
            deployments=scope.deployments,
            environments=scope.environments,
            named=scope.policies,
        ),
        key=lambda p: p.name,
    )


def read_rules(sides: list[Side], scope: Scope) -> Rules:
    """The stricter of every side's rules for a change of `scope`. A reason that holds on some
    sides only says where it was read, so a lowered count shows next to the base's."""
    rules = Rules()
    reasons: list[tuple[str, str]] = []  # (reason, side label)
    counts: dict[tuple[str, str], int] = {}
    reviewers: set[str] = set()
    policies: set[str] = set()
    for side in sides:
        governing = governing_policies(side.specs, scope)
        policies.update(p.name for p in governing)
        for policy in governing:
            reviewers.update(policy.approvals.reviewers)
            rules.codeowners = rules.codeowners or policy.approvals.codeowners
        for count, why in required_approvals(side.specs.project, governing, scope):
            rules.needed = max(rules.needed, count)
            reasons.append((why, side.label))
            counts[(why, side.label)] = count
    # The binding requirements first: a lowered count shows after the count that holds.
    reasons.sort(key=lambda r: -counts[r])
    for why in dict.fromkeys(w for w, _ in reasons):
        where = [label for w, label in reasons if w == why]
        if len(set(where)) == len(sides):
            rules.because.append(why)
        else:
            rules.because.append(f"{why} at {' and '.join(dict.fromkeys(where))}")
    rules.reviewers = sorted(reviewers)
    rules.policies = sorted(policies)
    return rules


def unparsed(specs: CommitSpecs) -> str | None:
    """The first reason a commit's specs do not parse with this llmops; None when they do."""
    if specs.project_problems:
        return specs.project_problems[0]
    return next((e.problems[0] for e in specs.entries.values() if e.problems), None)
