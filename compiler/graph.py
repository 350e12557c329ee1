"""Graph: stages -> a DAG (networkx). A cycle is an error that names every spec in it."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from llmops.compiler.stages import Stage
from llmops.errors import Diagnostic, SpecError


@dataclass(frozen=True)
class StageGraph:
    """Stages in a deterministic topological order, with the DAG for ancestry questions."""

    graph: nx.DiGraph
    order: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        return self.graph.nodes[name]["stage"]

    def downstream(self, names: set[str]) -> set[str]:
        found = set(names)
        for name in names:
            found |= nx.descendants(self.graph, name)
        return found

    def upstream(self, name: str) -> set[str]:
        return set(nx.ancestors(self.graph, name))

    @property
    def pipeline(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.order if s.in_pipeline)


def build_graph(stages: list[Stage]) -> StageGraph:
    graph = nx.DiGraph()
    for stage in stages:
        graph.add_node(stage.name, stage=stage)
    errors = []
    for stage in stages:
        for up in stage.upstream:
            if up not in graph:
                errors.append(
                    Diagnostic(
                        stage.spec.path, 1, 1, "", f"stage {stage.name} needs {up}, which no spec defines"
                    )
                )
                continue
            graph.add_edge(up, stage.name)
    if errors:
        raise SpecError(errors)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        members = [graph.nodes[a]["stage"] for a, _ in cycle]
        chain = " -> ".join([s.name for s in members] + [members[0].name])
        raise SpecError(
            [
                Diagnostic(
                    s.spec.path,
                    *s.spec.doc.position(("name",)),
                    "name",
                    f"{s.spec.kind} '{s.spec.name}' is part of a cycle: {chain}",
                )
                for s in members
            ]
        )
    order = tuple(graph.nodes[n]["stage"] for n in nx.lexicographical_topological_sort(graph))
    return StageGraph(graph, order)
