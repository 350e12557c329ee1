"""The compile pipeline as one pure function: parsed specs -> {relative path: text}."""

from __future__ import annotations

from dataclasses import dataclass

from llmops.compiler.emit.dvc import emit_dvc
from llmops.compiler.gcpause import paused_gc
from llmops.compiler.graph import StageGraph, build_graph
from llmops.compiler.parse import ParsedProject, SpecFile
from llmops.compiler.resolve import Index, resolve
from llmops.compiler.stages import build_stages


@dataclass(frozen=True)
class Compiled:
    index: Index
    graph: StageGraph
    files: dict[str, str]


def plan_graph(parsed: ParsedProject) -> tuple[Index, StageGraph]:
    with paused_gc():
        index = resolve(parsed)
        return index, build_graph(build_stages(index))


def compile_project(parsed: ParsedProject) -> Compiled:
    from llmops.compiler.emit.kserve import emit_kserve
    from llmops.compiler.emit.sources import emit_sources
    from llmops.compiler.emit.workflows import emit_workflows
    from llmops.compiler.schema import SCHEMA_PATH, schema_text

    index, graph = plan_graph(parsed)
    with paused_gc():
        files = {
            **emit_dvc(graph),
            **emit_workflows(index, graph),
            **emit_kserve(index.all("Deployment")),
            SCHEMA_PATH: schema_text(),
        }
        files.update(emit_sources(graph.pipeline, _by_path(parsed), files))
        return Compiled(index, graph, dict(sorted(files.items())))


def _by_path(parsed: ParsedProject) -> dict[str, SpecFile]:
    return {sf.path: sf for sf in (parsed.project_file, *parsed.specs)}
