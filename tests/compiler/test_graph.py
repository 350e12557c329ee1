"""The stage graph: the order and the cycle report networkx gave, without importing networkx."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.compiler.graph import StageDag, build_graph
from llmops.errors import Diagnostic, SpecError


@dataclass(frozen=True)
class _Doc:
    def position(self, loc):
        return (2, 7)


@dataclass(frozen=True)
class _Spec:
    name: str
    path: str
    kind: str = "Dataset"
    doc: _Doc = field(default_factory=_Doc)


@dataclass(frozen=True)
class _Stage:
    """What build_graph reads of a stage."""

    name: str
    upstream: tuple[str, ...]
    spec: _Spec
    in_pipeline: bool = True


def _stages(edges: dict[str, list[str]]) -> list[_Stage]:
    return [_Stage(name, tuple(ups), _Spec(name, f"specs/{name}.yaml")) for name, ups in edges.items()]


def _networkx_build(stages: list[_Stage]) -> tuple[list[str], list[str]]:
    """The compiler's graph before: (order, cycle messages), straight from networkx."""
    graph = nx.DiGraph()
    for stage in stages:
        graph.add_node(stage.name, stage=stage)
    for stage in stages:
        for up in stage.upstream:
            graph.add_edge(up, stage.name)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return list(nx.lexicographical_topological_sort(graph)), []
    members = [graph.nodes[a]["stage"] for a, _ in cycle]
    chain = " -> ".join([s.name for s in members] + [members[0].name])
    report = SpecError(
        [
            Diagnostic(
                s.spec.path, 2, 7, "name", f"{s.spec.kind} '{s.spec.name}' is part of a cycle: {chain}"
            )
            for s in members
        ]
    )
    return [], [str(d) for d in report.diagnostics]


def _ours(stages: list[_Stage]) -> tuple[list[str], list[str]]:
    try:
        return [s.name for s in build_graph(stages).order], []  # type: ignore[arg-type]
    except SpecError as exc:
        return [], [str(d) for d in exc.diagnostics]


names = st.sampled_from([f"{p}-{i}" for p in ("data", "tune", "eval", "gate", "a", "z") for i in range(4)])
graphs = st.dictionaries(names, st.lists(names, max_size=4), min_size=1, max_size=20)


@given(graphs)
def test_order_and_cycle_report_are_networkx(edges):
    known = set(edges)
    edges = {name: [u for u in ups if u in known] for name, ups in edges.items()}
    assert _ours(_stages(edges)) == _networkx_build(_stages(edges))


@given(graphs)
def test_ancestry_and_edges_are_networkx(edges):
    known = set(edges)
    order = sorted(known)
    # only edges from earlier to later names: a DAG
    edges = {
        n: [u for u in ups if u in known and order.index(u) < order.index(n)] for n, ups in edges.items()
    }
    stages = _stages(edges)
    ours = build_graph(stages)  # type: ignore[arg-type]
    theirs = ours.graph.to_networkx()
    assert isinstance(theirs, nx.DiGraph)
    assert list(ours.graph.edges) == list(theirs.edges)
    assert list(ours.graph) == list(theirs) and len(ours.graph) == len(theirs)
    for name in known:
        assert ours.upstream(name) == nx.ancestors(theirs, name)
        assert ours.downstream({name}) == {name} | nx.descendants(theirs, name)
        assert list(ours.graph.successors(name)) == list(theirs.successors(name))
        assert list(ours.graph.predecessors(name)) == list(theirs.predecessors(name))
        assert ours.stage(name) is theirs.nodes[name]["stage"]
    assert ours.graph.number_of_edges() == theirs.number_of_edges()  # through networkx


def test_missing_upstream_is_reported():
    with pytest.raises(SpecError, match="stage b needs nope, which no spec defines"):
        build_graph(_stages({"a": [], "b": ["nope"]}))  # type: ignore[arg-type]


def test_graph_is_a_stage_dag():
    graph = build_graph(_stages({"b": ["a"], "a": []}))  # type: ignore[arg-type]
    assert isinstance(graph.graph, StageDag)
    assert [s.name for s in graph.order] == ["a", "b"]
    assert "a" in graph.graph and "c" not in graph.graph
    with pytest.raises(KeyError):
        graph.upstream("c")


def test_compiling_does_not_import_networkx():
    code = "import sys\nfrom llmops.compiler.graph import build_graph\nprint('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
