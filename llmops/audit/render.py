"""The audit as a plain-text table, Markdown (for a PR comment or a compliance file) or JSON."""

from __future__ import annotations

import json
from typing import Any

SCHEMA = "llmops/audit/v1"


def _short_metrics(metrics: dict[str, Any], limit: int = 3) -> str:
    parts = []
    for key, value in list(metrics.items())[:limit]:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={shown}")
    more = len(metrics) - limit
    return ", ".join(parts) + (f" (+{more})" if more > 0 else "")


def _gate(gate: dict[str, str]) -> str:
    return ", ".join(f"{p}:{r}" for p, r in gate.items()) or "-"


def _name(person: str) -> str:
    return person.split(" <", 1)[0]


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for c in report["changes"]:
        change = c["change"] + ("" if c["parseable"] else " (unparseable)")
        if c.get("revert_of"):
            change += f" (revert {c['revert_of'][:8]})"
        rows.append(
            [
                c["date"][:10],
                c["kind"] or "?",
                c["name"],
                change,
                c["commit"][:8],
                f"#{c['pr']}" if c["pr"] is not None else "-",
                c["merge_style"] + (" !" if c["direct"] else ""),
                _name(c["author"]),
                ", ".join(c["approvals"]) or "-",
                _gate(c["gate"]),
                _short_metrics(c["metrics"]) or "-",
            ]
        )
    return rows


HEADER = ["DATE", "KIND", "NAME", "CHANGE", "COMMIT", "PR", "STYLE", "AUTHOR", "APPROVALS", "GATE", "METRICS"]


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def render_table(report: dict[str, Any]) -> str:
    rows = _rows(report)
    lines = [f"Audit of {report['branch']} ({report['head'][:8]}): {len(rows)} change(s)"]
    if rows:
        widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
        for row in [HEADER, *rows]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    direct = sum(1 for c in report["changes"] if c["direct"])
    if direct:
        lines.append(f"! {direct} change(s) reached {report['branch']} without a pull request")
    lenient = _lenient(report)
    if lenient:
        lines.append(f"! {lenient}")
    lines.append("")
    lines.append("Specs:")
    for s in report["specs"]:
        when = {"retired": s["retired_at"], "deleted": s["deleted_at"]}.get(s["state"])
        lines.append(f"  {s['kind'] or '?'} {s['name']}: {s['state']}" + (f" since {when}" if when else ""))
    lines.extend(_registry_lines(report, bullet="  "))
    return "\n".join(lines) + "\n"


def _registry_lines(report: dict[str, Any], bullet: str) -> list[str]:
    registry = report.get("registry") or {}
    if not registry.get("models"):
        return []
    lines = ["", "Registry:"]
    for model, info in registry["models"].items():
        versions = ", ".join(v["version"] for v in info["versions"]) or "none"
        lines.append(f"{bullet}{model}: versions {versions}")
        for env, where in info["environments"].items():
            lines.append(
                f"{bullet}  {env}: {where['version'] or where['commit'][:8]} since {where['since']}"
                f" by {_name(where['by'])}"
            )
    return lines


def _lenient(report: dict[str, Any]) -> str:
    """Whether some rows were read from specs that do not parse with this llmops, and where to
    find why: history keeps commits whose specs a later llmops no longer accepts."""
    count = sum(1 for c in report["changes"] if any("does not parse" in n for n in c["notes"]))
    if not count:
        return ""
    return (
        f"{count} change(s) at commits whose specs do not parse with this llmops; their rows were "
        "read leniently (see each change's notes: --format json)"
    )


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any]) -> str:
    rows = _rows(report)
    lines = [f"## Audit of `{report['branch']}` at `{report['head'][:8]}`", ""]
    if rows:
        lines.append("| " + " | ".join(h.title() for h in HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        for row in rows:
            row = [f"`{row[4]}`" if i == 4 else _md(cell) for i, cell in enumerate(row)]
            lines.append("| " + " | ".join(row) + " |")
    else:
        lines.append("No changes to models or deployments.")
    direct = sum(1 for c in report["changes"] if c["direct"])
    if direct:
        lines += ["", f"> **{direct} change(s) reached `{report['branch']}` without a pull request.**"]
    lenient = _lenient(report)
    if lenient:
        lines += ["", f"> {lenient}"]
    lines += ["", "### Specs", ""]
    for s in report["specs"]:
        when = {"retired": s["retired_at"], "deleted": s["deleted_at"]}.get(s["state"])
        lines.append(f"- {s['kind'] or '?'} `{s['name']}`: {s['state']}" + (f" since {when}" if when else ""))
    extra = _registry_lines(report, bullet="- ")
    if extra:
        lines += ["", "### Registry", ""] + [line.replace("- ", "- ", 1) for line in extra[2:]]
    return "\n".join(lines) + "\n"
