"""dvc.yaml and the per-stage params files, from the stage graph."""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from llmops.compiler.emit.header import HEADER_TEXT, yaml_header
from llmops.compiler.graph import StageGraph
from llmops.compiler.stages import Stage

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
    doc: dict[str, Any] = {"stages": {s.name: _stage_entry(s) for s in stages}}
    body = yaml.dump(
        doc,
        Dumper=_DUMPER,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return yaml_header() + body


def _stage_entry(stage: Stage) -> dict[str, Any]:
    entry: dict[str, Any] = {"cmd": f"llmops run {shlex.quote(stage.name)}"}
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
