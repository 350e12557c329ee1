"""Which Policies govern a change: one answer for `llmops enforce`, the audit and the monitor stage.

A Policy governs what its `applies_to` names (FineTunes, Deployments, environments); one that
names nothing governs everything, so a new policy is never silently out of force. A Policy can
also be named outright: a Deployment lists its `policies`, and a change to a Policy is governed
by that Policy itself (loosening a rule needs the approvals of the policy being loosened).

What "the change" touches is the caller's to say, since each asks about something else: a
landing on the main branch (every FineTune, Deployment and Policy it changed), a deployment (it,
its environment, its FineTune, its policies), an audit row (one FineTune or one Deployment), the
monitoring of one deployment. Pure: typed specs in, typed specs out, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmops.compiler.kinds.policy import Policy


def policies_governing(
    policies: Iterable[Policy],
    *,
    finetunes: Iterable[str] = (),
    deployments: Iterable[str] = (),
    environments: Iterable[str] = (),
    named: Iterable[str] = (),
    unrestricted: bool = True,
) -> list[Policy]:
    """The policies, in the order given, that govern a change touching these FineTunes,
    Deployments and environments: those `named` (a Deployment's `policies`, a Policy the change
    edits), those whose `applies_to` names any of them, and, with `unrestricted`, those whose
    `applies_to` names nothing.

    `unrestricted=False` is for a deployment's monitoring, whose thresholds come only from the
    policies that name the deployment, its environment or (as its `policies`) themselves.
    """
    finetunes, deployments, environments = set(finetunes), set(deployments), set(environments)
    wanted = set(named)
    return [
        policy
        for policy in policies
        if policy.name in wanted
        or (unrestricted and policy.applies_to.names_nothing)
        or finetunes.intersection(policy.applies_to.finetunes)
        or deployments.intersection(policy.applies_to.deployments)
        or environments.intersection(policy.applies_to.environments)
    ]
