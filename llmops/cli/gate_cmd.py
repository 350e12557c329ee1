"""`llmops gate`: evaluate Policy rules against the metrics files on disk, without running DVC.

The same evaluation as the `gate-<policy>` stage (`llmops.gates`, over the typed stage configs
the compiler builds), so the table a reviewer sees is the verdict the pipeline reaches.
Exit 0 when every rule passes, 1 when any fails, 2 for a usage error (an unknown policy).

`--annotations` writes one GitHub workflow command (`::error file=...,line=...`) per failed rule
result, pointing at the rule in its Policy spec. They go to standard error, so that standard
output can be redirected into `$GITHUB_STEP_SUMMARY` while the runner still reads the commands
(it reads both streams of a step).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from llmops.annotations import annotation
from llmops.errors import UsageError

_COLUMNS = ("", "rule", "model", "metric", "observed", "limit", "detail")


def cmd_gate(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.parse import load_project
    from llmops.gates import disk_reader, gate_record

    root = Path(args.project).resolve()
    _, graph = plan_graph(load_project(root))
    stages = {s.spec.name: s for s in graph.order if s.kind == "gate"}
    wanted = list(dict.fromkeys(args.policies)) or sorted(stages)
    unknown = [p for p in wanted if p not in stages]
    if unknown:
        hint = suggest(unknown[0], stages)
        known = ", ".join(sorted(stages)) or "none"
        raise UsageError(f"no policy '{unknown[0]}'" + (f"; {hint}" if hint else f"; policies: {known}"))
    configs = {name: stages[name].config for name in wanted}
    read = disk_reader(root)
    records = {name: gate_record(c.spec, c.inputs.results, read) for name, c in configs.items()}
    render = {"table": render_table, "markdown": render_markdown, "json": render_json}[args.format]
    sys.stdout.write(render(records))
    if args.annotations:
        lines: dict[str, None] = {}  # one per failed result, repeats dropped, in order
        for name, record in records.items():
            spec_file = stages[name].spec
            path = _display_path(root, spec_file.path)
            for result in record["rules"]:
                if not result["passed"]:
                    line, _col = spec_file.doc.position(("rules", result["index"]))
                    title = f"{name}: {result['rule']}"
                    lines[annotation(result["message"], file=path, line=line, title=title)] = None
        for text in lines:
            print(text, file=sys.stderr)
    return 0 if all(r["passed"] for r in records.values()) else 1


def _display_path(root: Path, rel: str) -> str:
    """The spec's path from the working folder (the repository root in CI) when inside it."""
    try:
        return (root / rel).relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return rel


# -- renderings -------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _rows(record: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            "PASS" if r["passed"] else "FAIL",
            r["rule"],
            _cell(r["model"]),
            _cell(r["metric"]),
            _cell(r["observed"]),
            r["limit"] or "-",
            r["message"],
        )
        for r in record["rules"]
    ]


def _verdict(record: dict[str, Any]) -> str:
    total = len(record["rules"])
    if not total:
        return "passed (no rules)"
    if record["passed"]:
        return f"passed ({total} of {total})"
    return f"FAILED ({record['failed']} of {total} failed)"


def render_table(records: dict[str, dict[str, Any]]) -> str:
    if not records:
        return "no policies in this project\n"
    if sys.stdout.isatty():
        return _rich_table(records)
    out: list[str] = []
    for name, record in records.items():
        out.append(f"policy {name}: {_verdict(record)}")
        rows = [tuple(c.upper() if c else "" for c in _COLUMNS), *_rows(record)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
            out.append("  " + "  ".join(cells).rstrip())
        out.append("")
    return "\n".join(out)


def _rich_table(records: dict[str, dict[str, Any]]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=shutil.get_terminal_size().columns)
    for name, record in records.items():
        style = "green" if record["passed"] else "bold red"
        table = Table(title=f"policy {name}: [{style}]{_verdict(record)}[/]", title_justify="left")
        for column in _COLUMNS:
            table.add_column(column, overflow="fold")
        for row in _rows(record):
            mark = "[green]PASS[/]" if row[0] == "PASS" else "[bold red]FAIL[/]"
            table.add_row(mark, *(_plain(c) for c in row[1:]))
        console.print(table)
    return buffer.getvalue()


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def render_markdown(records: dict[str, dict[str, Any]]) -> str:
    if not records:
        return "No policies in this project.\n"
    out: list[str] = []
    for name, record in records.items():
        mark = ":white_check_mark:" if record["passed"] else ":x:"
        out += [f"### {mark} Policy `{name}`: {_verdict(record)}", ""]
        if not record["rules"]:
            out += ["The policy has no rules.", ""]
            continue
        out.append("| | rule | model | metric | observed | limit | detail |")
        out.append("| --- | --- | --- | --- | ---: | --- | --- |")
        for row in _rows(record):
            status = ":white_check_mark: pass" if row[0] == "PASS" else ":x: **fail**"
            rule, model, metric, observed, limit, detail = (_md(c) for c in row[1:])
            out.append(f"| {status} | `{rule}` | `{model}` | `{metric}` | {observed} | {limit} | {detail} |")
        out.append("")
    return "\n".join(out)


def render_json(records: dict[str, dict[str, Any]]) -> str:
    document = {"passed": all(r["passed"] for r in records.values()), "policies": records}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
