"""A commit's specs read through the compiler (`llmops.audit.specs`): the models' defaults, and a
historical commit that no longer parses read leniently and reported, never a crash."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from llmops.audit.specs import main_branch, read_commit_specs, salvage
from llmops.compiler.kinds import Deployment, Policy, Project

POLICY = "kind: Policy\nname: release\napplies_to: {deployments: [prod]}\napprovals: {min: 2}\n"
DEPLOY = "kind: Deployment\nname: prod\nmodel: {finetune: tiny}\nenvironment: production\n"


def commit(root: Path, files: dict[str, str]) -> git.Commit:
    repo = git.Repo.init(root, initial_branch="main")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.git.add("-A")
    actor = git.Actor("Carol", "carol@example.com")
    return repo.index.commit("specs", author=actor, committer=actor)


def test_specs_parse_as_the_compiler_parses_them(tmp_path):
    tree = commit(
        tmp_path,
        {
            "llmops.yaml": "kind: Project\nname: demo\n",
            "specs/release.yaml": POLICY,
            "specs/prod.yml": DEPLOY,
        },
    ).tree
    specs = read_commit_specs(tree)
    assert specs.project.governance.protected_environments == ["production"]  # the model's default
    assert (specs.project_problems, specs.notes()) == ((), [])
    assert sorted(specs.entries) == ["specs/prod.yml", "specs/release.yaml"]
    assert isinstance(specs.policies()["release"], Policy)
    [deployment] = specs.of_kind("Deployment")
    assert (
        isinstance(deployment.spec, Deployment) and deployment.spec.status == "active" and deployment.parses
    )
    assert main_branch(tree) == "main" and main_branch(None) == "main"


def test_where_the_specs_live_comes_from_that_commits_llmops_yaml(tmp_path):
    project = "kind: Project\nname: demo\npaths: {specs: [governance]}\ngovernance: {main_branch: trunk}\n"
    tree = commit(
        tmp_path,
        {"app/llmops.yaml": project, "app/governance/release.yaml": POLICY, "app/specs/prod.yaml": DEPLOY},
    ).tree
    specs = read_commit_specs(tree, "app/")
    assert list(specs.entries) == ["governance/release.yaml"]
    assert main_branch(tree, "app/") == "trunk"


def test_a_historical_commit_that_no_longer_parses_is_read_leniently_and_says_so(tmp_path):
    files = {
        # a field this llmops does not know, next to settings it does
        "llmops.yaml": "kind: Project\nname: demo\ngovernance: {approvals: 3, quorum: 2}\n",
        # a rule type this llmops does not know
        "specs/release.yaml": POLICY + "rules:\n  - {type: perplexity-cap, max: 9}\n",
        # broken YAML
        "specs/prod.yaml": "kind: Deployment\nname: [prod\n",
    }
    specs = read_commit_specs(commit(tmp_path, files).tree)
    assert specs.project.governance.approvals == 3
    release = specs.entries["specs/release.yaml"]
    assert not release.parses and release.spec.approvals.min == 2 and release.spec.rules == []
    assert specs.policies()["release"].applies_to.deployments == ["prod"]
    broken = specs.entries["specs/prod.yaml"]
    assert (broken.kind, broken.spec, broken.parses) == (None, None, False)
    assert specs.find("Deployment", "prod") is None
    notes = specs.notes()
    assert notes[0].startswith("llmops.yaml does not parse with this llmops (llmops.yaml:3:")
    assert "unknown field 'quorum'" in notes[0] and notes[0].endswith(": read leniently")
    assert notes[1] == (
        "specs/prod.yaml does not parse with this llmops (specs/prod.yaml:3:1: YAML syntax error: "
        "while parsing a flow sequence did not find expected ',' or ']'): left out"
    )
    assert notes[2].startswith(
        "specs/release.yaml does not parse with this llmops (specs/release.yaml:6:12: rules[0].type:"
    )
    assert notes[2].endswith(": read leniently")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"approvals": {"min": 2, "quorum": 3}}, {"min": 2, "reviewers": [], "codeowners": False}),
        ({"approvals": {"min": "two", "reviewers": ["@a", "not a login!"]}}, {"min": 1, "reviewers": ["@a"]}),
    ],
)
def test_salvage_keeps_every_value_that_validates(data, expected):
    policy = salvage(Policy, {"kind": "Policy", "name": "release", **data})
    assert isinstance(policy, Policy)
    assert policy.approvals.model_dump(include=set(expected)) == expected


def test_salvage_gives_up_without_a_required_field():
    deployment = {"kind": "Deployment", "name": "prod", "environment": "production"}
    assert salvage(Deployment, {**deployment, "model": {"finetune": "a", "hub": "o/m"}}) is None
    assert (
        salvage(Deployment, {**deployment, "model": {"finetune": "a"}, "status": "gone"}).status == "active"
    )
    assert salvage(Project, {"kind": "Project"}) is None
