"""The stage graph as Mermaid (renders in GitHub Markdown) or Graphviz DOT."""

from __future__ import annotations

from llmops.compiler.catalog import stage_kind
from llmops.compiler.graph import StageGraph

# catalog shape -> (Mermaid brackets, Graphviz shape)
_SHAPES = {
    "box": (('["', '"]'), "box"),
    "diamond": (('{"', '"}'), "diamond"),
    "hexagon": (('{{"', '"}}'), "hexagon"),
    "ellipse": (('(["', '"])'), "ellipse"),
}


def to_mermaid(graph: StageGraph) -> str:
    ids = {s.name: f"s{i}" for i, s in enumerate(graph.order)}
    lines = ["flowchart LR"]
    for s in graph.order:
        left, right = _SHAPES[stage_kind(s.kind).shape][0]
        label = f"{s.name}<br/>{s.spec.kind} {s.spec.name}"
        lines.append(f"  {ids[s.name]}{left}{label}{right}")
    for a, b in sorted(graph.graph.edges):
        lines.append(f"  {ids[a]} --> {ids[b]}")
    return "\n".join(lines) + "\n"


def to_dot(graph: StageGraph) -> str:
    lines = ["digraph llmops {", "  rankdir=LR;", "  node [shape=box];"]
    for s in graph.order:
        shape = _SHAPES[stage_kind(s.kind).shape][1]
        lines.append(f'  "{s.name}" [label="{s.name}\\n{s.spec.kind} {s.spec.name}", shape={shape}];')
    for a, b in sorted(graph.graph.edges):
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
