"""Graph: stages -> a DAG. A cycle is an error that names every spec in it.

The DAG is a small adjacency structure rather than a networkx graph: importing networkx costs
about 0.1 s, more than building and sorting the graph of 5,000 stages, and every compile paid it.
Its order is networkx's `lexicographical_topological_sort` (tests compare the two); networkx is
still what reports a cycle (an error, so rare) and what answers any other graph question
(`StageDag.to_networkx`, or any networkx attribute, built on first use).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops.compiler.stages import Stage
from llmops.errors import Diagnostic, SpecError


@dataclass(frozen=True)
class StageGraph:
    """Stages in a deterministic topological order, with the DAG for ancestry questions."""

    graph: StageDag
    order: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        return self.graph.nodes[name]["stage"]

    def downstream(self, names: set[str]) -> set[str]:
        found = set(names)
        for name in names:
            found |= self.graph.reachable(name, self.graph.succ)
        return found

    def upstream(self, name: str) -> set[str]:
        return self.graph.reachable(name, self.graph.pred)

    @property
    def pipeline(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.order if s.in_pipeline)


class StageDag:
    """Stage names and the edges between them, read like a networkx DiGraph (`nodes[name]`,
    `edges`, `successors`, `predecessors`, `in`); anything else goes to a networkx copy."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.succ: dict[str, dict[str, None]] = {}
        self.pred: dict[str, dict[str, None]] = {}
        self._added: list[tuple[str, str]] = []  # edges as added, for an identical networkx copy

    def add_node(self, name: str, stage: Stage) -> None:
        if name in self.nodes:
            self.nodes[name]["stage"] = stage
        else:
            self.nodes[name] = {"stage": stage}
            self.succ[name] = {}
            self.pred[name] = {}

    def add_edge(self, up: str, down: str) -> None:
        self.succ[up][down] = None
        self.pred[down][up] = None
        self._added.append((up, down))

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(upstream, downstream) pairs in networkx's order: by node, then by edge added."""
        return [(up, down) for up, downs in self.succ.items() for down in downs]

    def successors(self, name: str) -> Iterator[str]:
        return iter(self.succ[name])

    def predecessors(self, name: str) -> Iterator[str]:
        return iter(self.pred[name])

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def reachable(self, name: str, links: dict[str, dict[str, None]]) -> set[str]:
        """Every node reached from name along links (succ: descendants, pred: ancestors)."""
        if name not in links:
            raise KeyError(f"stage {name} is not in the graph")
        found: set[str] = set()
        todo = [name]
        while todo:
            for nxt in links[todo.pop()]:
                if nxt not in found:
                    found.add(nxt)
                    todo.append(nxt)
        found.discard(name)
        return found

    def lexicographic_order(self) -> list[str] | None:
        """networkx's `lexicographical_topological_sort` (the ready node with the smallest name
        first); None when a cycle leaves some node never ready."""
        waiting = {name: len(ups) for name, ups in self.pred.items() if ups}
        ready = [name for name, ups in self.pred.items() if not ups]
        heapq.heapify(ready)
        order = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for down in self.succ[name]:
                waiting[down] -= 1
                if not waiting[down]:
                    del waiting[down]
                    heapq.heappush(ready, down)
        return None if waiting else order

    def to_networkx(self) -> Any:
        """The same graph as a networkx DiGraph (imports networkx)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from((name, dict(attrs)) for name, attrs in self.nodes.items())
        graph.add_edges_from(self._added)
        return graph

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("nodes", "succ", "pred", "_added"):
            raise AttributeError(attr)
        cached = self.__dict__.get("_networkx")
        if cached is None:
            cached = self.__dict__["_networkx"] = self.to_networkx()
        return getattr(cached, attr)


def _find_cycle(graph: StageDag) -> list[tuple[str, str]]:
    import networkx as nx

    return list(nx.find_cycle(graph.to_networkx()))


def build_graph(stages: list[Stage]) -> StageGraph:
    graph = StageDag()
    for stage in stages:
        graph.add_node(stage.name, stage)
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
    names = graph.lexicographic_order()
    if names is None:
        cycle = _find_cycle(graph)
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
    nodes = graph.nodes
    return StageGraph(graph, tuple(nodes[n]["stage"] for n in names))
