"""The data stage's exploration report: plot files for `dvc plots` and a Markdown page for people.

Everything here is drawn from the profile (`profile.build_profile`) and is pure text, so the stage
writes it atomically with the rest of its outputs and reruns give identical bytes. Text from the
data is hostile by assumption: every cell is escaped and clipped, so a record holding `|`,
backticks, `<script>` or newlines cannot break a table or inject markup where the report is shown.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from llmops.compiler.plotdefs import plot_definitions  # noqa: F401 - re-exported for callers
from llmops.markdown_cell import CELL_CHARS, cell  # noqa: F401 - cell is re-exported for callers
from llmops.runners.data.split import SPLITS

BAR_WIDTH = 40
SAMPLES_SHOWN = 5
REASONS_SHOWN = 3

_EIGHTHS = " ▏▎▍▌▋▊▉"


def plot_files(profile: dict[str, Any]) -> dict[str, str]:
    """File name -> CSV text, always the same four files (header only when there is nothing to
    plot), so the outputs dvc.yaml declares exist whatever the spec holds.

    `bar_horizontal` sorts its nominal axis as text, so bin labels are zero-padded ("0064-0127")
    and step positions too: otherwise "128-255" would sort above "16-31".
    """
    hist = profile["histogram"]
    files = {
        "length_chars.csv": _csv(["bin", "lower", "upper", "count"], _padded(hist["chars"])),
        "length_tokens.csv": _csv(["bin", "lower", "upper", "count"], _padded(hist["tokens"])),
    }
    rows = []
    labels = profile.get("labels")
    if labels:
        for split in _split_order(labels["counts"]):
            for label in labels["labels"]:
                count, share = labels["counts"][split][label], labels["shares"][split][label]
                rows.append([f"{label} ({split})", label, split, count, share])
    files["label_balance.csv"] = _csv(["group", "label", "split", "count", "share"], rows)
    steps = profile["cleaning"]
    width = len(str(len(steps)))
    files["cleaning.csv"] = _csv(
        ["step", "rows_in", "rows_out", "dropped", "changed"],
        [
            [
                f"{s['position']:0{width}d}-{s['step']}",
                s["rows_in"],
                s["rows_out"],
                s["dropped"],
                s["changed"],
            ]
            for s in steps
        ],
    )
    return files


def markdown_report(profile: dict[str, Any], metrics: dict[str, Any], dataset_name: str) -> str:
    """The page a person reads before training on the data; plain Markdown, no HTML."""
    parts = [f"# Data report: {cell(dataset_name)}", ""]
    for section in (_summary, _cleaning, _lengths, _labels, _duplicates, _outliers, _characters):
        parts += section(profile, metrics) + [""]
    parts += _ngrams(profile) + [""] + _pii(profile) + [""] + _dropped(profile) + [""] + _metrics(metrics)
    return "\n".join(parts).rstrip("\n") + "\n"


def text_histogram(rows: list[dict[str, Any]], width: int = BAR_WIDTH) -> str:
    """Unicode bars in eighths of a character, scaled to the largest bin."""
    if not rows:
        return "(no records)"
    top = max(row["count"] for row in rows) or 1
    label_width = max(len(row["bin"]) for row in rows)
    lines = []
    for row in rows:
        eighths = round(row["count"] * width * 8 / top)
        bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{row['bin']:>{label_width}} │{bar} {row['count']}".rstrip())
    return "\n".join(lines)


def _summary(profile: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    rows = [["read", metrics.get("rows_read", profile["rows_read"])], ["kept", profile["rows"]]]
    rows += [[split, profile["splits"][split]] for split in _split_order(profile["splits"])]
    return ["## Summary", "", *_table(["rows", "count"], rows, "lr")]


def _cleaning(profile: dict[str, Any], _: dict[str, Any]) -> list[str]:
    steps = profile["cleaning"]
    if not steps:
        return ["## Cleaning", "", "No cleaning steps."]
    rows = []
    for s in steps:
        reasons = sorted(s["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:REASONS_SHOWN]
        shown = "; ".join(f"{cell(reason, 40)} ({n})" for reason, n in reasons)
        rows.append(
            [s["position"], cell(s["step"]), s["rows_in"], s["rows_out"], s["dropped"], s["changed"], shown]
        )
    head = ["#", "step", "in", "out", "dropped", "changed", "top reasons"]
    return ["## Cleaning", "", *_table(head, rows, "rlrrrrl")]


def _lengths(profile: dict[str, Any], _: dict[str, Any]) -> list[str]:
    keys = ["min", "p50", "mean", "p90", "p99", "max", "std"]
    rows = []
    for unit in ("chars", "tokens"):
        table = profile["length"][unit]
        for split in ["all", *_split_order(table)]:
            rows.append([unit, split] + [_num(table[split][k]) for k in keys])
    return [
        "## Text length",
        "",
        f"Text column: {cell(profile['text_column'])}; tokens are whitespace-separated words.",
        "",
        *_table(["unit", "split", *keys], rows, "ll" + "r" * len(keys)),
        "",
        "Characters per record (power-of-two bins):",
        "",
        "```text",
        text_histogram(profile["histogram"]["chars"]),
        "```",
    ]


def _labels(profile: dict[str, Any], _: dict[str, Any]) -> list[str]:
    labels = profile.get("labels")
    if not labels:
        return ["## Labels", "", "No label column."]
    splits = ["all", *_split_order(labels["counts"])]
    rows = [
        [cell(label)] + [f"{labels['counts'][s][label]} ({_pct(labels['shares'][s][label])})" for s in splits]
        for label in labels["labels"]
    ]
    return [
        "## Labels",
        "",
        f"Label column: {cell(labels['column'])}.",
        "",
        *_table(["label", *splits], rows),
    ]


def _duplicates(profile: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    dup = profile["duplicates"]
    lines = ["## Duplicates", ""]
    if "duplicate_rate_read" in metrics:
        lines.append(f"- exact duplicates as read: {_pct(metrics['duplicate_rate_read'])}")
    lines.append(f"- exact duplicates kept: {dup['exact']} ({_pct(dup['exact_rate'])})")
    near = "not measured" if dup["near_rate"] is None else _pct(dup["near_rate"])
    lines.append(f"- near-duplicate rate: {near}")
    return lines


def _outliers(profile: dict[str, Any], _: dict[str, Any]) -> list[str]:
    out = profile["outliers"]
    lines = [
        "## Length outliers",
        "",
        f"{_records(out['count'])} with |z| > {_num(out['z_threshold'])} on character length "
        f"(mean {_num(out['mean'])}, std {_num(out['std'])}).",
    ]
    if out["examples"]:
        rows = [[_num(e["z"]), e["chars"], cell(e["split"]), cell(e["text"])] for e in out["examples"]]
        lines += ["", *_table(["z", "chars", "split", "text"], rows, "rrll")]
    return lines


def _characters(profile: dict[str, Any], _: dict[str, Any]) -> list[str]:
    chars = profile["characters"]
    lines = [
        "## Unusual characters",
        "",
        f"{_records(chars['records'])} with unusual characters, {chars['encoding_problems']} of them with "
        "signs of a wrong decoding (replacement characters, surrogates, mojibake such as `Ã©`).",
        "",
        *_table(["kind", "records"], [[kind, n] for kind, n in sorted(chars["by_kind"].items())], "lr"),
    ]
    if chars["examples"]:
        rows = [[", ".join(e["kinds"]), cell(e["split"]), cell(e["text"])] for e in chars["examples"]]
        lines += ["", *_table(["kinds", "split", "text"], rows)]
    return lines


def _ngrams(profile: dict[str, Any]) -> list[str]:
    lists = [profile["ngrams"][n] for n in sorted(profile["ngrams"], key=int)]
    depth = max((len(items) for items in lists), default=0)
    if not depth:
        return ["## Frequent words", "", "No words."]
    head = ["#"]
    for n in sorted(profile["ngrams"], key=int):
        head += [f"{n}-gram", "count"]
    rows = []
    for i in range(depth):
        row: list[Any] = [i + 1]
        for items in lists:
            row += [cell(items[i]["ngram"]), items[i]["count"]] if i < len(items) else ["", ""]
        rows.append(row)
    note = "Lowercased words; n-grams seen once, or made only of stopwords and numbers, are left out."
    sample = profile.get("ngram_records", profile["rows"])
    if sample < profile["rows"]:
        note += f" Counted on a fixed sample of {sample} of the {profile['rows']} records."
    return ["## Frequent words", "", note, "", *_table(head, rows, "r" + "lr" * len(lists))]


def _pii(profile: dict[str, Any]) -> list[str]:
    found = profile.get("pii_found")
    if found is None:
        return ["## Personal data", "", "PII detection did not run."]
    if not found:
        return ["## Personal data", "", "PII detection found nothing."]
    return [
        "## Personal data",
        "",
        *_table(["kind", "found"], [[cell(k), n] for k, n in found.items()], "lr"),
    ]


def _dropped(profile: dict[str, Any]) -> list[str]:
    lines = ["## Dropped samples"]
    shown = False
    for s in profile["cleaning"]:
        if not s["samples"]:
            continue
        shown = True
        rows = [[cell(x["reason"], 40), cell(x["text"])] for x in s["samples"][:SAMPLES_SHOWN]]
        lines += ["", f"### {cell(s['name'])}", "", *_table(["reason", "text"], rows)]
    return lines if shown else [*lines, "", "No records were dropped."]


def _metrics(metrics: dict[str, Any]) -> list[str]:
    flat = sorted(_flatten(metrics))
    if not flat:
        return []
    return ["## All metrics", "", *_table(["metric", "value"], [[cell(k), _num(v)] for k, v in flat], "lr")]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}{k}.")]
    return [(prefix[:-1], value)]


def _table(head: list[str], rows: list[list[Any]], align: str = "") -> list[str]:
    """A GFM table; `align` holds one l/r per column (default left). Cells must be escaped already."""
    align = align.ljust(len(head), "l")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _split_order(names: Any) -> list[str]:
    """train, validation, test first, whatever order a JSON round trip left the keys in."""
    names = [n for n in names if n != "all"]
    return [n for n in SPLITS if n in names] + sorted(n for n in names if n not in SPLITS)


def _padded(rows: list[dict[str, Any]]) -> list[list[Any]]:
    width = len(str(rows[-1]["upper"])) if rows else 1
    out = []
    for row in rows:
        lo, hi = f"{row['lower']:0{width}d}", f"{row['upper']:0{width}d}"
        out.append([lo if lo == hi else f"{lo}-{hi}", row["lower"], row["upper"], row["count"]])
    return out


def _csv(head: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return buffer.getvalue()


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return cell(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}%"
