"""Enforcement: may this commit act (train on main, deploy)? Only if it reached the main branch
through a merged pull request that meets the Policy's approvals, whose results CI produced and
whose gates passed. Nothing the commit says about itself is trusted where it can be verified.

Where approvals come from is an explicit `Source`:

* the GitHub API (CI: GITHUB_TOKEN inside Actions, or `--github OWNER/REPO`): the pull request
  is the one GitHub says was merged into the main branch as this commit (merge, squash or
  rebase), never the number a subject claims; reviews count on its head SHA only, each
  reviewer's latest, never the author's; the `llmops results` check run succeeded on that head
  and the merged commit carries the head's result files (`llmops.audit.pulls`). Any failure to
  verify refuses.
* the commit's `Approved-by:` / `Reviewed-by:` trailers, only when asked for (`--trailers`,
  a local choice): people by email, each once, never whoever made the change.
* neither: refused, saying how to get one. Trailers are never a fallback.

The rules (approval counts, reviewers, code owners, protected environments) are read from the
base as well as from the commit, and the stricter applies (`llmops.audit.rules`); the base must
parse. Which Policies govern follows their `applies_to` (`llmops.audit.scope`). The gates are
evaluated again from the committed results with the compiled gate stage's own config
(`.llmops/stages/gate-<policy>.json`), each results file being the one `dvc.lock` records.
Everything is read from git at the commits concerned, never from the working tree. The specs
under check are read as `llmops compile` reads them (`llmops.audit.specs`); when they no longer
parse they are read leniently for the scope and the gates, and the verdict's notes say so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from llmops.audit.approvals import (
    Approver,
    check_codeowners,
    check_count,
    check_reviewers,
    trailer_approvers,
)
from llmops.audit.history import landing
from llmops.audit.pulls import (
    MergedPull,
    PullsAPI,
    Unverified,
    head_approvals,
    merged_pull,
    results_check,
    results_differ,
)
from llmops.audit.results_check import check_fresh
from llmops.audit.rules import Side, governing_policies, read_rules, unparsed
from llmops.audit.scope import deployment_scope, landing_scope
from llmops.audit.specs import CommitSpecs, read_commit_specs
from llmops.audit.verdict import Verdict
from llmops.compiler.catalog import stage_name
from llmops.compiler.layout import RESULTS_CHECK, STAGE_CONFIG_DIR
from llmops.compiler.parse import PROJECT_FILE
from llmops.gates import gate_record
from llmops.github import GitHubError
from llmops.gitrepo import blob_bytes, blob_text
from llmops.results.chain import out_md5s
from llmops.results.pipeline import LOCK_FILE, read_lock

NO_SOURCE = (
    "approvals cannot be verified here: run in GitHub Actions with GITHUB_TOKEN set (the pull "
    "request, its reviews and its results are checked through the GitHub API), or pass --trailers "
    "(LLMOPS_TRUST_TRAILERS=1 for `llmops run`) to trust Approved-by:/Reviewed-by: trailers locally"
)
_VERIFY = "refusing: any failure to verify refuses"


@dataclass(frozen=True)
class Source:
    """Where approvals come from: GitHub (`github` owner/repo read through `api`), the commit's
    trailers (`trailers`, an explicit local choice), or nowhere (`why_none` says how to fix it)."""

    github: str | None = None
    api: PullsAPI | None = None
    trailers: bool = False
    why_none: str = NO_SOURCE


@dataclass
class _Landed:
    """What the landing step found: the verified pull request (API), and who approved (None
    when approvals could not be read at all: the refusal is recorded already)."""

    pull: MergedPull | None = None
    approvers: list[Approver] | None = None
    not_counted: list[str] = field(default_factory=list)


def check(
    repo,
    ref: str = "HEAD",
    *,
    branch: str = "main",
    prefix: str = "",
    deployment: str | None = None,
    source: Source | None = None,
) -> Verdict:
    """Every check for one commit; `Verdict.allowed` is the answer, `refusals()` the reasons."""
    source = source or Source()
    commit = repo.commit(ref)
    verdict = Verdict(
        commit=commit.hexsha,
        subject=str(commit.summary),
        branch=branch,
        target=f"deployment {deployment}" if deployment else f"{branch} branch",
    )
    _check_on_branch(repo, commit, branch, verdict)
    if source.github and source.api is not None:
        landed = _api_landing(verdict, commit, branch, source)
    elif source.trailers:
        landed = _trailer_landing(verdict, repo, commit)
    else:
        verdict.add("approval source", False, source.why_none)
        landed = _Landed()

    specs = read_commit_specs(commit.tree, prefix)
    verdict.notes += specs.notes()
    sides, base_trees = _sides(verdict, repo, commit, prefix, specs, landed.pull)
    bases = [s.specs for s in sides if s.is_base]
    if deployment:
        scope = deployment_scope(specs, deployment, verdict, bases)
    else:
        parent = commit.parents[0].hexsha if commit.parents else None
        first = next((s.specs for s in sides if s.is_base and s.sha == parent), None)
        scope = landing_scope(commit, prefix, specs, verdict, before=first)
    rules = read_rules(sides, scope)
    verdict.policies = rules.policies
    verdict.required_approvals = rules.needed

    if landed.approvers is not None and verdict.pr is not None:
        fetch_team = source.api.team_members if source.api is not None and not source.trailers else None
        check_count(verdict, landed.approvers, rules.needed, rules.because, landed.not_counted)
        if rules.reviewers:
            check_reviewers(verdict, landed.approvers, rules.reviewers, fetch_team)
        if rules.codeowners:
            trees = base_trees or [commit.tree]  # a root commit is its own base
            check_codeowners(verdict, trees, prefix, landed.approvers, scope.paths, fetch_team)
    if landed.pull is not None and source.api is not None and source.github:
        _check_provenance(verdict, source.api, source.github, landed.pull, commit.tree, prefix)
    # On the main branch every gate at this commit must hold (each was a required check of its
    # pull request); a deployment needs the gates of the policies that govern it here.
    gates = [p.name for p in governing_policies(specs, scope)] if deployment else sorted(specs.policies())
    for name in gates:
        _check_gate(verdict, commit.tree, prefix, name)
    check_fresh(verdict, commit.tree, prefix)
    return verdict


# -- how the commit landed ---------------------------------------------------------------------


def _api_landing(verdict: Verdict, commit, branch: str, source: Source) -> _Landed:
    """The pull request GitHub says was merged as this commit, and the reviews of its head."""
    assert source.api is not None and source.github is not None
    api, github = source.api, source.github
    verdict.approval_source = "github-api"
    try:
        pull = merged_pull(api, github, commit.hexsha, branch, str(commit.summary))
    except Unverified as exc:
        verdict.add(
            "pull request",
            False,
            f"{_short(commit)} ('{commit.summary}') did not arrive through a pull request merged into "
            f"{branch} as this commit: {exc}",
        )
        return _Landed()
    verdict.pr, verdict.head = pull.number, pull.head
    verdict.merge_style = _style(commit)
    how = "merge commit" if verdict.merge_style == "merge" else f"{verdict.merge_style} merge"
    verdict.add(
        "pull request",
        True,
        f"#{pull.number} ({how}), verified with GitHub: merged into {branch} as {_short(commit)}, "
        f"head {pull.head[:10]}",
    )
    try:
        reviews = api.reviews(github, pull.number)
    except GitHubError as exc:
        verdict.add("approvals", False, f"cannot read the reviews of #{pull.number}: {exc}; {_VERIFY}")
        return _Landed(pull)
    reviewed = head_approvals(reviews, pull.head, pull.author)
    approvers = [Approver(name=login, login=login) for login in reviewed.approvers]
    verdict.approvals = [str(a) for a in approvers]
    return _Landed(pull, approvers, reviewed.not_counted)


def _trailer_landing(verdict: Verdict, repo, commit) -> _Landed:
    """Trailer mode: the pull request and approvals are what the commit says (`--trailers`)."""
    info = landing(repo, commit)
    verdict.pr, verdict.merge_style = info.pr, info.merge_style
    verdict.notes.append(
        "trailer mode (--trailers): the pull request number and the approvals are what the commit "
        "says, not verified with GitHub; results provenance is not checked"
    )
    if info.pr is None:
        why = "; ".join(info.notes) or "no pull request"
        verdict.add(
            "pull request",
            False,
            f"{_short(commit)} ('{commit.summary}') did not arrive through a pull request ({why}): "
            "it is neither a GitHub merge commit ('Merge pull request #N from ...') nor a squash "
            "merge ('... (#N)'). Open a pull request and merge it.",
        )
        return _Landed()
    how = "merge commit" if info.merge_style == "merge" else f"{info.merge_style} merge"
    verdict.add("pull request", True, f"#{info.pr} ({how})")
    approvers, not_counted = trailer_approvers(repo, commit)
    verdict.approvals = [str(a) for a in approvers]
    verdict.approval_source = (
        ("merge-commit" if info.merge_style == "merge" else "trailer") if approvers else "none"
    )
    return _Landed(None, approvers, not_counted)


def _style(commit) -> str:
    """How GitHub landed it: a merge commit (two parents), a squash (`(#N)` subject) or a rebase."""
    if len(commit.parents) >= 2:
        return "merge"
    return (
        "squash" if str(commit.summary).rstrip().endswith(")") and "(#" in str(commit.summary) else "rebase"
    )


# -- where the rules come from -------------------------------------------------------------------


def _sides(
    verdict: Verdict, repo, commit, prefix: str, specs: CommitSpecs, pull: MergedPull | None
) -> tuple[list[Side], list]:
    """The commits the rules are read from: the base (first parent; for a squash or rebase of
    several commits also the pull request's base SHA) and this commit; and the base commits'
    trees (for CODEOWNERS). Records the `rules` check: a base whose specs do not parse refuses."""
    bases = list(commit.parents[:1])
    problems: list[str] = []
    squashed = pull is not None and len(commit.parents) < 2 and pull.commits > 1
    if squashed and pull.base_sha and pull.base_sha not in {b.hexsha for b in bases}:
        try:
            bases.append(repo.commit(pull.base_sha))
        except Exception:  # not in this clone
            problems.append(
                f"the pull request's base {pull.base_sha[:10]} is not in this clone "
                "(check out the full history: fetch-depth 0)"
            )
    sides: list[Side] = []
    for base in bases:
        label = f"the base {base.hexsha[:10]}"
        if blob_text(base.tree, prefix + PROJECT_FILE) is None:
            verdict.notes.append(f"{label} has no {prefix}{PROJECT_FILE}: no rules to read there")
            continue
        base_specs = read_commit_specs(base.tree, prefix)
        why = unparsed(base_specs)
        if why is not None:
            problems.append(f"{label} does not parse with this llmops ({why})")
        sides.append(Side(label, base_specs, True, base.hexsha))
    sides.append(Side("this commit", specs, False, commit.hexsha))
    if problems:
        verdict.add(
            "rules",
            False,
            "; ".join(problems) + ": the approval rules are read from the base, never leniently",
        )
    elif len(sides) > 1:
        where = " and ".join(s.label for s in sides if s.is_base)
        verdict.add("rules", True, f"read from {where} and this commit; the stricter applies")
    else:
        verdict.add("rules", True, "no base to read them from: this commit's own")
    return sides, [base.tree for base in bases]


# -- results provenance --------------------------------------------------------------------------


def _check_provenance(
    verdict: Verdict, api: PullsAPI, github: str, pull: MergedPull, tree, prefix: str
) -> None:
    """CI produced the results that merged: its `llmops results` check run succeeded on the
    pull request's head, and the merged commit carries that head's result files."""
    try:
        problems = [p for p in [results_check(api, github, pull.head)] if p]
        differ = results_differ(api, github, pull.head, tree, prefix)
    except Unverified as exc:
        verdict.add("results provenance", False, f"{exc}; {_VERIFY}")
        return
    if differ:
        problems.append(
            f"the merged commit's results differ from the pull request's head {pull.head[:10]}, "
            f"which CI checked: {', '.join(differ)}"
        )
    if problems:
        verdict.add("results provenance", False, "; ".join(problems))
    else:
        verdict.add(
            "results provenance",
            True,
            f"'{RESULTS_CHECK}' succeeded on the head {pull.head[:10]}, whose result files merged unchanged",
        )


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
    blobs = {rel: blob_bytes(tree, prefix + rel) for rel in files}
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
    """path -> md5 of every output dvc.lock records (metrics files are outputs of their stage);
    an unreadable lock records nothing (the freshness check says why)."""
    try:
        lock = read_lock(blob_text(tree, prefix + LOCK_FILE))
    except ValueError:
        return {}
    return {path: md5 for entry in lock.values() for path, md5 in out_md5s(entry).items()}


def _short(commit) -> str:
    return commit.hexsha[:10]
