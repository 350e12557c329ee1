"""dvc.yaml and the per-stage params files, from the stage graph.

The trials of a sweep become one DVC `matrix` stage. DVC names each trial `<group>@<key>`, the
key being the values joined by '-', which is exactly the name the compiler gave it; `${key}`
puts that key into the command, the params file and the output paths.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import yaml

from llmops.compiler.emit.header import HEADER_TEXT, yaml_header
from llmops.compiler.graph import StageGraph
from llmops.compiler.stages import STAGE_CONFIG_DIR, Stage

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MATRIX_NAME = re.compile(r"^[a-z][a-z0-9-]{0,80}$")
_KEY = "${key}"


class _Quoted(str):
    """A matrix value that is a string: always written quoted, so DVC never reads `1e5` or `true`
    in it as a number or a boolean (which would change the trial's name)."""


class _Dumper(_DUMPER):  # type: ignore[misc,valid-type]
    pass


_Dumper.add_representer(
    _Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')
)


def emit_dvc(graph: StageGraph) -> dict[str, str]:
    stages = graph.pipeline
    files = {"dvc.yaml": _dvc_yaml(stages)}
    for stage in stages:
        files[stage.config_path] = stage_config_text(stage)
    return files


def stage_config_text(stage: Stage) -> str:
    body = {"//": HEADER_TEXT, **stage.config}
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dvc_yaml(stages: tuple[Stage, ...]) -> str:
    entries: dict[str, Any] = {}
    groups: dict[str, list[Stage]] = {}
    for stage in stages:
        if stage.matrix is None:
            entries[stage.name] = _stage_entry(stage)
        elif stage.matrix.group not in groups:
            groups[stage.matrix.group] = [stage]
            entries[stage.matrix.group] = None  # filled below, at its first trial's place
        else:
            groups[stage.matrix.group].append(stage)
    for group, trials in groups.items():
        entries[group] = _matrix_entry(group, trials)
    body = yaml.dump(
        {"stages": entries},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return yaml_header() + body


def _matrix_entry(group: str, trials: list[Stage]) -> dict[str, Any]:
    """One `matrix` stage for the trials of a sweep; DVC expands it back into exactly these."""
    first = trials[0]
    matrix = first.matrix
    assert matrix is not None
    if not _MATRIX_NAME.match(group):
        raise ValueError(f"sweep stage name {group!r} is not a plain identifier")
    expanded = {f"{group}@{t.matrix.key}" for t in trials if t.matrix}
    if expanded != {t.name for t in trials} or len(trials) != _product(matrix.axes):
        raise AssertionError(f"the trials of {group} are not the full matrix DVC expands")
    if any(t.deps != first.deps for t in trials):
        raise AssertionError(f"the trials of {group} do not share their dependencies")
    templated = Stage(
        name=f"{group}@{_KEY}",
        kind=first.kind,
        spec=first.spec,
        config={},
        deps=first.deps,
        outs=matrix.outs,
        metrics=matrix.metrics,
        plots=matrix.plots,
    )
    entry = {
        "matrix": {key: [_matrix_value(v) for v in values] for key, values in matrix.axes},
        **_stage_entry(templated, cmd=f"llmops run {group}@{_KEY}"),
    }
    entry["params"] = [{f"{STAGE_CONFIG_DIR}/{group}@{_KEY}.json": None}]
    return entry


def _matrix_value(value: Any) -> Any:
    return _Quoted(value) if isinstance(value, str) else value


def _product(axes: tuple[tuple[str, tuple[Any, ...]], ...]) -> int:
    count = 1
    for _, values in axes:
        count *= len(values)
    return count


def _stage_entry(stage: Stage, *, cmd: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"cmd": cmd or f"llmops run {shlex.quote(stage.name)}"}
    if stage.deps:
        entry["deps"] = list(stage.deps)
    entry["params"] = [{stage.config_path: None}]
    # persist: DVC would delete outputs before running the stage; runners replace them
    # atomically themselves, so an interrupted or failed run leaves the previous ones in place.
    if stage.outs or stage.reports:
        entry["outs"] = [{o: {"persist": True}} for o in stage.outs]
        # reports are small Markdown files kept in git, so a pull request shows them
        entry["outs"] += [{r: {"cache": False, "persist": True}} for r in stage.reports]
    if stage.metrics:
        entry["metrics"] = [{m: {"cache": False, "persist": True}} for m in stage.metrics]
    if stage.plots:
        entry["plots"] = [
            {p: {"cache": False, "persist": True, **stage.plot_props.get(p, {})}} for p in stage.plots
        ]
    return entry
