"""validate, schema and graph: the commands that only read specs and write text (compile, which
owns the generated files, is `generated.py`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _compiled(args: argparse.Namespace):
    from llmops.compiler.compile import compile_project
    from llmops.compiler.parse import load_project

    return compile_project(load_project(Path(args.project)))


def cmd_validate(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import load_project
    from llmops.prompting.golden import check_specs

    root = Path(args.project)
    index, graph = plan_graph(load_project(root))
    print_fit_warnings(index)
    # Prompt templates compile in the sandbox and their golden tests run: exit 2 for a template
    # that cannot render, 1 for a golden test that fails (Jinja2 only, no model libraries).
    prompts = check_specs(index.parsed.specs, root)
    counts: dict[str, int] = {}
    for sf in index.parsed.specs:
        counts[sf.kind] = counts.get(sf.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no specs"
    passed = (
        f"; {prompts.tests} golden test{'s' if prompts.tests != 1 else ''} passed" if prompts.tests else ""
    )
    print(f"ok: llmops.yaml and {summary}; {len(graph.order)} stages{passed}")
    return 0


def print_fit_warnings(index) -> None:  # type: ignore[no-untyped-def]
    """Metrics that do not fit their task (compiler/metric_fit.py): warned on stderr, not fatal."""
    from llmops.compiler.metric_fit import metric_fit

    for diagnostic in metric_fit(index):
        print(f"warning: {diagnostic}", file=sys.stderr)


def cmd_schema(args: argparse.Namespace) -> int:
    from llmops.atomic import write_text
    from llmops.compiler.schema import schema_text

    text = schema_text()
    if args.out:
        write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from llmops.compiler.render_graph import to_dot, to_mermaid

    graph = _compiled(args).graph
    sys.stdout.write(to_mermaid(graph) if args.format == "mermaid" else to_dot(graph))
    return 0
