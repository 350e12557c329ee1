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
unrestricted ones. A protected environment (llmops.yaml `governance`) adds its approval count.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from llmops.audit.approvals import TeamFetcher, approvers, check_codeowners, check_count, check_reviewers
from llmops.audit.history import ReviewFetcher, landing
from llmops.audit.tree import PROJECT_FILE, TreeFacts, blob_text, is_spec, load_yaml, spec_doc, spec_roots
from llmops.audit.verdict import Verdict

STAGES_DIR = ".llmops/stages"


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
    project = _project_doc(tree, prefix)
    facts = TreeFacts(tree, prefix, spec_roots(tree, prefix))
    policies = facts.policies()
    if deployment:
        scope = _deployment_scope(tree, prefix, deployment, verdict)
    else:
        scope = _landing_scope(commit, prefix)
    names = sorted(p for p in policies if _policy_applies(policies[p], p, scope))
    verdict.policies = names
    needed, because = _required_approvals(project, policies, names, scope)
    verdict.required_approvals = needed
    # On the main branch every gate must hold (each was a required check of its pull request);
    # a deployment needs the gates of the policies that govern it.
    gates = names if deployment else sorted(policies)

    if api_failed:
        verdict.add("approvals", False, f"{api_failed[0]}; refusing rather than trusting git trailers")
    elif info.pr is not None:
        check_count(verdict, found, needed, because)
        reviewers = sorted({r for p in names for r in _approval_field(policies[p], "reviewers", [])})
        if reviewers:
            check_reviewers(verdict, found, reviewers, fetch_team)
        if any(_approval_field(policies[p], "codeowners", False) for p in names):
            check_codeowners(verdict, commit, prefix, found, scope["paths"], fetch_team)
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


# -- what the change touches and which policies apply --------------------------------------------


def _project_doc(tree, prefix: str) -> dict[str, Any]:
    text = blob_text(tree, prefix + PROJECT_FILE)
    try:
        doc = load_yaml(text) if text is not None else None
    except Exception:
        doc = None
    return doc if isinstance(doc, dict) else {}


def _empty_scope() -> dict[str, Any]:
    """What a check covers: names per kind, environments, and the changed paths."""
    return {"finetunes": set(), "deployments": set(), "environments": set(), "policies": set(), "paths": []}


def _landing_scope(commit, prefix: str) -> dict[str, Any]:
    """FineTunes, Deployments (with environments) and Policies the landing changed, and its paths."""
    scope = _empty_scope()
    parent = commit.parents[0] if commit.parents else None
    trees = [t for t in (parent.tree if parent else None, commit.tree) if t is not None]
    if parent is None:
        paths = sorted(i.path for i in commit.tree.traverse() if i.type == "blob")
    else:
        paths = sorted({p for d in parent.diff(commit) for p in (d.a_path, d.b_path) if p})
    scope["paths"] = [p[len(prefix) :] for p in paths if p.startswith(prefix)]
    for tree in trees:
        roots = spec_roots(tree, prefix)
        for path in paths:
            if not is_spec(path, roots, prefix):
                continue
            _, doc = spec_doc(tree, path)
            if doc:
                _add_to_scope(scope, doc)
    if prefix + "dvc.lock" in paths:
        locked = _lock_stages(parent.tree if parent else None, commit.tree, prefix)
    else:
        locked = set()
    _add_pipeline_scope(scope, commit.tree, prefix, paths, locked)
    # A changed FineTune changes what every Deployment serving it serves: their environments
    # (a protected one among them) and policies govern the change too.
    if scope["finetunes"]:
        for doc in _specs_of_kind(commit.tree, prefix, "Deployment"):
            model = doc.get("model")
            if isinstance(model, dict) and model.get("finetune") in scope["finetunes"]:
                _add_to_scope(scope, doc)
    return scope


def _add_pipeline_scope(scope: dict[str, Any], tree, prefix: str, paths: list[str], locked: set[str]) -> None:
    """Results count as changes to what produced them: a pull request that commits a rerun of
    `tune-tiny` (its dvc.lock entry, its metrics) changes `tiny` as much as an edit of its spec.
    `locked`: the stages whose dvc.lock entry the landing changed."""
    changed = set(paths)
    try:
        folder = tree / (prefix + STAGES_DIR)
    except KeyError:
        return
    for item in folder.traverse():
        if item.type != "blob" or not item.name.endswith(".json"):
            continue
        try:
            config = json.loads(item.data_stream.read())
        except ValueError:
            continue
        stage = str(config.get("stage"))
        outputs = [prefix + o for group in (config.get("outputs") or {}).values() for o in group or []]
        touched = (
            item.path in changed
            or stage in locked
            or any(name.split("@", 1)[0] == stage for name in locked)
            or any(p == o or p.startswith(o.rstrip("/") + "/") for o in outputs for p in changed)
        )
        if touched:
            _add_stage_to_scope(scope, config)


def _lock_stages(old_tree, new_tree, prefix: str) -> set[str]:
    """Names of the dvc.lock entries that differ between two trees (added, changed or removed)."""

    def entries(tree) -> dict[str, Any]:
        text = blob_text(tree, prefix + "dvc.lock") if tree is not None else None
        try:
            doc = load_yaml(text) if text is not None else None
        except Exception:
            return {}
        stages = doc.get("stages") if isinstance(doc, dict) else None
        return stages if isinstance(stages, dict) else {}

    old, new = entries(old_tree), entries(new_tree)
    return {name for name in set(old) | set(new) if old.get(name) != new.get(name)}


def _add_stage_to_scope(scope: dict[str, Any], config: dict[str, Any]) -> None:
    kind, spec = config.get("kind"), config.get("spec") or {}
    name = spec.get("name")
    if kind in ("base", "tune", "select", "trial") and isinstance(name, str):
        scope["finetunes"].add(name)
    elif kind == "eval":
        for ref in spec.get("models") or []:
            if isinstance(ref, dict) and isinstance(ref.get("finetune"), str):
                scope["finetunes"].add(ref["finetune"])
    elif kind in ("gate", "review") and isinstance(name, str):
        scope["policies"].add(name)


def _specs_of_kind(tree, prefix: str, kind: str) -> list[dict[str, Any]]:
    roots = spec_roots(tree, prefix)
    found = []
    for item in tree.traverse():
        if item.type == "blob" and is_spec(item.path, roots, prefix):
            _, doc = spec_doc(tree, item.path)
            if doc and doc.get("kind") == kind:
                found.append(doc)
    return found


def _deployment_scope(tree, prefix: str, name: str, verdict: Verdict) -> dict[str, Any]:
    scope = _empty_scope()
    roots = spec_roots(tree, prefix)
    for item in tree.traverse():
        if item.type != "blob" or not is_spec(item.path, roots, prefix):
            continue
        _, doc = spec_doc(tree, item.path)
        if doc and doc.get("kind") == "Deployment" and str(doc.get("name")) == name:
            _add_to_scope(scope, doc)
            if doc.get("status", "active") == "retired":
                verdict.add("deployment", False, f"deployment {name} has status: retired at this commit")
            else:
                verdict.add("deployment", True, f"{name} ({item.path[len(prefix) :]})")
            return scope
    verdict.add("deployment", False, f"no Deployment '{name}' in the specs at this commit")
    return scope


def _add_to_scope(scope: dict[str, Any], doc: dict[str, Any]) -> None:
    kind, name = doc.get("kind"), str(doc.get("name"))
    if kind == "FineTune":
        scope["finetunes"].add(name)
    elif kind == "Policy":
        scope["policies"].add(name)
    elif kind == "Deployment":
        scope["deployments"].add(name)
        if isinstance(doc.get("environment"), str):
            scope["environments"].add(doc["environment"])
        model = doc.get("model")
        if isinstance(model, dict) and isinstance(model.get("finetune"), str):
            scope["finetunes"].add(model["finetune"])
        for policy in doc.get("policies") or []:
            scope["policies"].add(str(policy))


def _policy_applies(doc: dict[str, Any], name: str, scope: dict[str, Any]) -> bool:
    if name in scope["policies"]:
        return True
    applies = doc.get("applies_to")
    if not isinstance(applies, dict) or not any(applies.values()):
        return True  # a Policy that names nothing governs everything
    return any(
        set(applies.get(key) or []) & scope[key] for key in ("finetunes", "deployments", "environments")
    )


def _approval_field(doc: dict[str, Any], key: str, default: Any) -> Any:
    approvals = doc.get("approvals")
    if not isinstance(approvals, dict):
        return 1 if key == "min" else default
    return approvals.get(key, 1 if key == "min" else default)


def _required_approvals(
    project: dict[str, Any], policies: dict[str, dict], names: list[str], scope: dict[str, Any]
) -> tuple[int, list[str]]:
    counts: list[tuple[int, str]] = []
    for name in names:
        value = _approval_field(policies[name], "min", 1)
        if isinstance(value, int):
            counts.append((value, f"policy {name}: {value}"))
    governance = project.get("governance") if isinstance(project.get("governance"), dict) else {}
    protected = set(governance.get("protected_environments") or ["production"])
    hit = sorted(protected & scope["environments"])
    if hit:
        value = governance.get("approvals", 1)
        if isinstance(value, int):
            counts.append((value, f"protected environment {', '.join(hit)}: {value}"))
    needed = max((c for c, _ in counts), default=0)
    return needed, [why for _, why in counts]


# -- approvals ------------------------------------------------------------------------------------


# -- gates ----------------------------------------------------------------------------------------


def _check_gate(verdict: Verdict, tree, prefix: str, policy: str) -> None:
    from llmops.runners.gate.run import gate_results

    name = f"gate {policy}"
    config_path = f"{prefix}{STAGES_DIR}/gate-{policy}.json"
    text = blob_text(tree, config_path)
    if text is None:
        verdict.add(name, False, f"{config_path} is not committed: run `llmops compile` and commit it")
        return
    config = json.loads(text)
    files = list((config.get("inputs") or {}).get("results") or [])
    locked = _locked_md5(tree, prefix)
    problems = []
    with tempfile.TemporaryDirectory(prefix="llmops-enforce-") as tmp:
        for rel in files:
            blob = _blob_bytes(tree, prefix + rel)
            if blob is None:
                continue  # the gate itself reports a missing results file
            digest = hashlib.md5(blob).hexdigest()
            if rel not in locked:
                problems.append(f"{rel} is not in the committed dvc.lock (commit dvc.lock after `dvc repro`)")
            elif locked[rel] != digest:
                problems.append(f"{rel} is not what the pipeline wrote (dvc.lock records another md5)")
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        record = gate_results(config, Path(tmp))
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
