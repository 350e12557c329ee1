"""`policies_governing`: the one answer to "which Policies govern this change", shared by
`llmops enforce`, the audit and the monitor stage."""

from __future__ import annotations

from llmops.compiler.governance import policies_governing
from llmops.compiler.kinds import Policy


def policy(name: str, **applies_to: list[str]) -> Policy:
    return Policy(kind="Policy", name=name, applies_to=applies_to)


EVERYTHING = policy("baseline")
TINY = policy("tiny-quality", finetunes=["tiny"])
PROD = policy("prod-release", deployments=["prod"])
PRODUCTION = policy("production", environments=["production"])
ALL = [EVERYTHING, TINY, PROD, PRODUCTION]


def names(found: list[Policy]) -> list[str]:
    return [p.name for p in found]


def test_a_policy_that_names_nothing_governs_everything():
    assert names(policies_governing(ALL)) == ["baseline"]
    assert names(policies_governing(ALL, finetunes=["other"])) == ["baseline"]
    assert names(policies_governing(ALL, unrestricted=False)) == []


def test_applies_to_matches_any_of_what_the_change_touches():
    assert names(policies_governing(ALL, finetunes=["tiny"])) == ["baseline", "tiny-quality"]
    assert names(policies_governing(ALL, deployments=["prod"], unrestricted=False)) == ["prod-release"]
    found = policies_governing(ALL, deployments=["staging-bot"], environments=["production"])
    assert names(found) == ["baseline", "production"]
    every = policies_governing(ALL, finetunes=["tiny"], deployments=["prod"], environments=["production"])
    assert every == ALL  # in the order given, each once


def test_named_policies_govern_whatever_they_apply_to():
    """A Deployment's own `policies`, or a Policy the change edits."""
    assert names(policies_governing(ALL, named=["tiny-quality"], unrestricted=False)) == ["tiny-quality"]
    assert names(policies_governing(ALL, named=["gone"], unrestricted=False)) == []


def test_the_monitor_stage_view_of_a_deployment():
    """Monitoring thresholds come from the policies naming the deployment, its environment, or
    listed in its `policies`; not from unrestricted ones, nor through its FineTune."""
    found = policies_governing(
        ALL, deployments=["prod"], environments=["production"], named=[], unrestricted=False
    )
    assert names(found) == ["prod-release", "production"]


def test_nothing_to_govern():
    assert policies_governing([], finetunes=["tiny"]) == []
