"""Plan: which stages rerun because of a change, computed from two stage graphs (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmops.compiler.graph import StageGraph


@dataclass(frozen=True)
class PlannedStage:
    name: str
    spec: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    base: str
    changed_files: tuple[tuple[str, str], ...]
    rerun: tuple[PlannedStage, ...]
    removed: tuple[str, ...]
    total: int
    notes: tuple[str, ...] = field(default=())


def make_plan(
    base_ref: str,
    base: StageGraph | None,
    head: StageGraph,
    changed: dict[str, str],
    spec_files: set[str],
) -> Plan:
    """`changed` maps each path that differs from the base to added/modified/deleted."""
    reasons: dict[str, list[str]] = {}
    base_names = {s.name for s in base.order} if base else set()
    for stage in head.order:
        why = []
        if stage.name not in base_names:
            why.append("new stage")
        else:
            diff = _config_diff(base.stage(stage.name).params(), stage.params())  # type: ignore[union-attr]
            if diff:
                shown = ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")
                why.append(f"config changed: {shown}")
        for dep in stage.deps:
            hits = sorted(p for p in changed if p == dep or p.startswith(dep.rstrip("/") + "/"))
            if hits:
                more = f" (+{len(hits) - 1})" if len(hits) > 1 else ""
                why.append(f"input changed: {hits[0]}{more}")
        if why:
            reasons[stage.name] = why
    for name in sorted(head.downstream(set(reasons)) - set(reasons)):
        ups = sorted(
            u for u in head.stage(name).upstream if u in reasons or u in head.downstream(set(reasons))
        )
        reasons[name] = [f"after {', '.join(ups)}"]
    rerun = tuple(
        PlannedStage(s.name, f"{s.spec.kind} {s.spec.name}", tuple(reasons[s.name]))
        for s in head.order
        if s.name in reasons
    )
    removed = tuple(sorted(base_names - {s.name for s in head.order}))
    files = tuple(sorted((p, st) for p, st in changed.items() if p in spec_files))
    notes = () if base else (f"no llmops project compiles at {base_ref}: every stage is new",)
    return Plan(base_ref, files, rerun, removed, len(head.order), notes)


def _config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out.extend(_config_diff(old.get(key), new.get(key), f"{prefix}{key}."))
        return out
    if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
        return [prefix.rstrip(".").removeprefix("spec.")]
    return []


def plan_text(plan: Plan) -> str:
    lines = [f"llmops plan against {plan.base}", *plan.notes]
    lines.append(f"changed specs: {len(plan.changed_files)}")
    lines += [f"  {status:9} {path}" for path, status in plan.changed_files]
    lines.append(f"stages that will rerun: {len(plan.rerun)} of {plan.total}")
    for stage in plan.rerun:
        lines.append(f"  {stage.name}  ({stage.spec}): {'; '.join(stage.reasons)}")
    if plan.removed:
        lines.append("stages removed: " + ", ".join(plan.removed))
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Plan) -> str:
    out = [f"### llmops plan against `{_md(plan.base)}`", ""]
    out += [f"> {_md(n)}" for n in plan.notes]
    if plan.changed_files:
        out += ["**Changed specs**", "", "| file | change |", "| --- | --- |"]
        out += [f"| `{_md(p)}` | {st} |" for p, st in plan.changed_files]
        out.append("")
    else:
        out += ["No spec changed.", ""]
    out.append(f"**Stages that will rerun: {len(plan.rerun)} of {plan.total}**")
    if plan.rerun:
        out += ["", "| stage | spec | why |", "| --- | --- | --- |"]
        out += [f"| `{s.name}` | {s.spec} | {_md('; '.join(s.reasons))} |" for s in plan.rerun]
    if plan.removed:
        out += ["", "**Stages removed:** " + ", ".join(f"`{n}`" for n in plan.removed)]
    return "\n".join(out) + "\n"


def plan_json(plan: Plan) -> str:
    return (
        json.dumps(
            {
                "base": plan.base,
                "changed_specs": [{"path": p, "change": s} for p, s in plan.changed_files],
                "rerun": [{"stage": s.name, "spec": s.spec, "reasons": list(s.reasons)} for s in plan.rerun],
                "removed": list(plan.removed),
                "total_stages": plan.total,
                "notes": list(plan.notes),
            },
            indent=2,
        )
        + "\n"
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'").replace("<", "&lt;")
