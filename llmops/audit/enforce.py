"""Enforcement: may this commit act (train on main, deploy)? Only if it reached the main branch
through a merged pull request that meets the Policy's approvals and whose gates passed.

Everything is read from git at that commit, never from the working tree: the landing (merge or
squash commit with a PR number; a direct push is refused), the approvals (merge-commit
trailers, or the GitHub reviews API, which fails closed when asked for and unreachable), the
Policies in force, and the committed results the gates read. The gates are evaluated again from
those results with the compiled gate stage's own config (`.llmops/stages/gate-<policy>.json`), and
each results file must be the one `dvc.lock` records, so neither a hand-edited metrics file nor
a failed gate left uncommitted can pass.

Which rules apply follows the Policies' `applies_to`: for a deployment, the Deployment's own
`policies`, those naming it, its environment or its FineTune, and unrestricted ones; on the main
branch, those covering any FineTune, Deployment or Policy the pull request changed, and
unrestricted ones (`llmops.compiler.governance`). A protected environment (llmops.yaml
`governance`) adds its approval count.

The specs are read as `llmops compile` reads them (`llmops.audit.specs`), so every default acted
on is the spec models'. A commit whose specs no longer parse is read leniently, never more
permissively, and the verdict's notes say so.
"""

from __future__ import annotations

import hashlib
import json

from llmops.audit.approvals import TeamFetcher, approvers, check_codeowners, check_count, check_reviewers
from llmops.audit.history import ReviewFetcher, landing
from llmops.audit.scope import Scope, deployment_scope, landing_scope
from llmops.audit.specs import read_commit_specs
from llmops.audit.tree import load_yaml
from llmops.audit.verdict import Verdict
from llmops.compiler.catalog import stage_name
from llmops.compiler.governance import policies_governing
from llmops.compiler.kinds import Policy, Project
from llmops.compiler.layout import STAGE_CONFIG_DIR
from llmops.gates import gate_record
from llmops.gitrepo import blob_text


def check(
    repo,
    ref: str = "HEAD",
    *,
    branch: str = "main",
    prefix: str = "",
    deployment: str | None = None,
    github: str | None = None,
    fetch_reviews: ReviewFetcher | None = None,
    fetch_team: TeamFetcher | None = None,
) -> Verdict:
    """Every check for one commit; `Verdict.allowed` is the answer, `refusals()` the reasons."""
    commit = repo.commit(ref)
    verdict = Verdict(
        commit=commit.hexsha,
        subject=str(commit.summary),
        branch=branch,
        target=f"deployment {deployment}" if deployment else f"{branch} branch",
    )
    _check_on_branch(repo, commit, branch, verdict)
    info = landing(repo, commit, github, fetch_reviews if github else None)
    verdict.pr, verdict.merge_style = info.pr, info.merge_style
    verdict.approval_source = info.approval_source
    if info.pr is None:
        why = "; ".join(info.notes) or "no pull request"
        verdict.add(
            "pull request",
            False,
            f"{_short(commit)} ('{commit.summary}') did not arrive through a pull request ({why}): "
            "it is neither a GitHub merge commit ('Merge pull request #N from ...') nor a squash "
            "merge ('... (#N)'). Open a pull request and merge it.",
        )
    else:
        how = "merge commit" if info.merge_style == "merge" else f"{info.merge_style} merge"
        verdict.add("pull request", True, f"#{info.pr} ({how})")
    api_failed = [n for n in info.notes if n.startswith("GitHub reviews unavailable")]
    found = approvers(commit, info, api_failed)
    verdict.approvals = [str(a) for a in found]

    tree = commit.tree
    specs = read_commit_specs(tree, prefix)
    verdict.notes += specs.notes()
    policies = specs.policies()
    if deployment:
        scope = deployment_scope(specs, deployment, verdict)
    else:
        scope = landing_scope(commit, prefix, specs, verdict)
    governing = sorted(
        policies_governing(
            policies.values(),
            finetunes=scope.finetunes,
            deployments=scope.deployments,
            environments=scope.environments,
            named=scope.policies,
        ),
        key=lambda p: p.name,
    )
    verdict.policies = [p.name for p in governing]
    needed, because = required_approvals(specs.project, governing, scope)
    verdict.required_approvals = needed
    # On the main branch every gate must hold (each was a required check of its pull request);
    # a deployment needs the gates of the policies that govern it.
    gates = verdict.policies if deployment else sorted(policies)

    if api_failed:
        verdict.add("approvals", False, f"{api_failed[0]}; refusing rather than trusting git trailers")
    elif info.pr is not None:
        check_count(verdict, found, needed, because)
        reviewers = sorted({r for p in governing for r in p.approvals.reviewers})
        if reviewers:
            check_reviewers(verdict, found, reviewers, fetch_team)
        if any(p.approvals.codeowners for p in governing):
            check_codeowners(verdict, commit, prefix, found, scope.paths, fetch_team)
    for name in gates:
        _check_gate(verdict, tree, prefix, name)
    return verdict


# -- where the commit stands ---------------------------------------------------------------


def _check_on_branch(repo, commit, branch: str, verdict: Verdict) -> None:
    for candidate in (branch, f"origin/{branch}", f"refs/remotes/origin/{branch}"):
        try:
            head = repo.commit(candidate)
        except Exception:
            continue
        if any(c.hexsha == commit.hexsha for c in repo.iter_commits(head, first_parent=True)):
            verdict.add("on branch", True, f"{_short(commit)} is on {branch}")
        else:
            verdict.add(
                "on branch",
                False,
                f"{_short(commit)} is not on the first-parent history of {branch}: only what was "
                f"merged into {branch} may act",
            )
        return
    verdict.add("on branch", False, f"no branch '{branch}' in this clone (fetch it, or pass --branch)")


# -- approvals ------------------------------------------------------------------------------------


def required_approvals(project: Project, governing: list[Policy], scope: Scope) -> tuple[int, list[str]]:
    """The approvals a change needs (the most any governing policy or protected environment
    asks), and each requirement as text."""
    counts = [(p.approvals.min, f"policy {p.name}: {p.approvals.min}") for p in governing]
    governance = project.governance
    hit = sorted(set(governance.protected_environments) & scope.environments)
    if hit:
        counts.append(
            (governance.approvals, f"protected environment {', '.join(hit)}: {governance.approvals}")
        )
    needed = max((c for c, _ in counts), default=0)
    return needed, [why for _, why in counts]


# -- gates ----------------------------------------------------------------------------------------


def _check_gate(verdict: Verdict, tree, prefix: str, policy: str) -> None:
    """The gate of `policy` again, from the commit's compiled gate config and committed results;
    each results file must be the one dvc.lock records."""
    from llmops.compiler.stages.gate import GateConfig

    name = f"gate {policy}"
    config_path = f"{prefix}{STAGE_CONFIG_DIR}/{stage_name('gate', policy)}.json"
    text = blob_text(tree, config_path)
    if text is None:
        verdict.add(name, False, f"{config_path} is not committed: run `llmops compile` and commit it")
        return
    try:
        data = json.loads(text)
        config = GateConfig.model_validate({k: v for k, v in data.items() if k != "//"})
    except (ValueError, AttributeError) as exc:  # not JSON, not an object, not a gate config
        why = str(exc).splitlines()[0]
        verdict.add(name, False, f"{config_path} cannot be read by this llmops ({why}): run `llmops compile`")
        return
    files = config.inputs.results
    blobs = {rel: _blob_bytes(tree, prefix + rel) for rel in files}
    locked = _locked_md5(tree, prefix)
    problems = []
    for rel, blob in blobs.items():
        if blob is None:
            continue  # the gate itself reports a missing results file
        if rel not in locked:
            problems.append(f"{rel} is not in the committed dvc.lock (commit dvc.lock after `dvc repro`)")
        elif locked[rel] != hashlib.md5(blob).hexdigest():
            problems.append(f"{rel} is not what the pipeline wrote (dvc.lock records another md5)")
    record = gate_record(config.spec, files, blobs.get)
    failed = [r for r in record["rules"] if not r["passed"]]
    if failed or problems:
        reasons = [f"{r['rule']}: {r['message']}" for r in failed] + problems
        verdict.add(name, False, f"gate {policy} did not pass at this commit: " + "; ".join(reasons))
    else:
        verdict.add(name, True, f"{len(record['rules'])} rule result(s) passed")


def _locked_md5(tree, prefix: str) -> dict[str, str]:
    """path -> md5 of every output dvc.lock records (metrics files are outputs of their stage)."""
    text = blob_text(tree, prefix + "dvc.lock")
    try:
        doc = load_yaml(text) if text is not None else None
    except Exception:
        doc = None
    found: dict[str, str] = {}
    for stage in ((doc or {}).get("stages") or {}).values() if isinstance(doc, dict) else ():
        for out in (stage or {}).get("outs") or []:
            if isinstance(out, dict) and isinstance(out.get("path"), str) and out.get("md5"):
                found[out["path"]] = str(out["md5"])
    return found


def _blob_bytes(tree, path: str) -> bytes | None:
    try:
        blob = tree / path
    except KeyError:
        return None
    return blob.data_stream.read() if blob.type == "blob" else None


def _short(commit) -> str:
    return commit.hexsha[:10]
