"""What a change touches, for enforcement: the FineTunes, Deployments, environments and Policies
of a landing on the main branch, or of one deployment, and the paths a landing changed.

Which Policies govern it is then `llmops.compiler.governance.policies_governing`, the one answer
enforcement, the audit and the monitor stage share. Specs are the commit's, parsed by the
compiler (`llmops.audit.specs`); the compiled stage configs and dvc.lock say which results a
landing changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmops.audit.specs import CommitSpecs, SpecEntry, entry_note, read_commit_specs
from llmops.audit.tree import load_yaml
from llmops.audit.verdict import Verdict
from llmops.compiler.kinds import Deployment, FineTune, Policy
from llmops.compiler.layout import STAGE_CONFIG_DIR
from llmops.gitrepo import blob_text


@dataclass
class Scope:
    """Names per kind, environments, and the changed paths (relative to the project)."""

    finetunes: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)
    paths: list[str] = field(default_factory=list)

    def add(self, entry: SpecEntry) -> None:
        """A spec the change touches: itself, and for a Deployment what it serves and obeys."""
        spec = entry.spec
        if isinstance(spec, FineTune):
            self.finetunes.add(spec.name)
        elif isinstance(spec, Policy):
            self.policies.add(spec.name)
        elif isinstance(spec, Deployment):
            self.deployments.add(spec.name)
            self.environments.add(spec.environment)
            if spec.model.finetune:
                self.finetunes.add(spec.model.finetune)
            self.policies.update(spec.policies)
        elif spec is None and entry.name:  # unreadable at this commit: its name still counts
            names = {"FineTune": self.finetunes, "Deployment": self.deployments, "Policy": self.policies}
            names.get(entry.kind or "", set()).add(entry.name)


def landing_scope(
    commit, prefix: str, specs: CommitSpecs, verdict: Verdict, before: CommitSpecs | None = None
) -> Scope:
    """FineTunes, Deployments (with environments) and Policies the landing changed, and its paths.
    `specs`: the commit's; `before`: its first parent's, when already read."""
    scope = Scope()
    parent = commit.parents[0] if commit.parents else None
    if parent is None:
        paths = sorted(i.path for i in commit.tree.traverse() if i.type == "blob")
    else:
        paths = sorted({p for d in parent.diff(commit) for p in (d.a_path, d.b_path) if p})
    scope.paths = [p[len(prefix) :] for p in paths if p.startswith(prefix)]
    if before is None and parent is not None:
        before = read_commit_specs(parent.tree, prefix)
    for side, when in ((before, "before this commit, "), (specs, "")):
        if side is None:
            continue
        for entry in (side.entries[rel] for rel in scope.paths if rel in side.entries):
            scope.add(entry)
            if when and entry.problems:  # the commit's own are noted by the caller
                verdict.notes.append(when + entry_note(entry))
    if prefix + "dvc.lock" in paths:
        locked = _lock_stages(parent.tree if parent else None, commit.tree, prefix)
    else:
        locked = set()
    _add_pipeline_scope(scope, commit.tree, prefix, paths, locked)
    # A changed FineTune changes what every Deployment serving it serves: their environments
    # (a protected one among them) and policies govern the change too.
    if scope.finetunes:
        for entry in specs.of_kind("Deployment"):
            if entry.spec.model.finetune in scope.finetunes:
                scope.add(entry)
    return scope


def deployment_scope(
    specs: CommitSpecs, name: str, verdict: Verdict, bases: list[CommitSpecs] | None = None
) -> Scope:
    """The Deployment `name` at this commit: it, its environment, FineTune and policies; and
    as it was at each of `bases`, so moving it out of a protected environment or dropping a
    policy in the same change does not escape them."""
    scope = Scope()
    for base in bases or []:
        before = base.find("Deployment", name)
        if before is not None:
            scope.add(before)
    entry = specs.find("Deployment", name)
    if entry is None:
        verdict.add("deployment", False, f"no Deployment '{name}' in the specs at this commit")
        return scope
    scope.add(entry)
    if entry.spec is None:
        verdict.add(
            "deployment", False, f"Deployment '{name}' cannot be read at this commit: {entry.problems[0]}"
        )
    elif entry.spec.status == "retired":
        verdict.add("deployment", False, f"deployment {name} has status: retired at this commit")
    else:
        verdict.add("deployment", True, f"{name} ({entry.path})")
    return scope


# -- results a landing changed ----------------------------------------------------------------


def _add_pipeline_scope(scope: Scope, tree, prefix: str, paths: list[str], locked: set[str]) -> None:
    """Results count as changes to what produced them: a pull request that commits a rerun of
    `tune-tiny` (its dvc.lock entry, its metrics) changes `tiny` as much as an edit of its spec.
    `locked`: the stages whose dvc.lock entry the landing changed."""
    changed = set(paths)
    try:
        folder = tree / (prefix + STAGE_CONFIG_DIR)
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
            _add_stage(scope, config)


def _add_stage(scope: Scope, config: dict[str, Any]) -> None:
    """What a compiled stage config (JSON, as committed; possibly older than this llmops) says
    its stage is about."""
    kind, spec = config.get("kind"), config.get("spec") or {}
    name = spec.get("name")
    if kind in ("base", "tune", "select", "trial") and isinstance(name, str):
        scope.finetunes.add(name)
    elif kind == "eval":
        for ref in spec.get("models") or []:
            if isinstance(ref, dict) and isinstance(ref.get("finetune"), str):
                scope.finetunes.add(ref["finetune"])
    elif kind in ("gate", "review") and isinstance(name, str):
        scope.policies.add(name)


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
