"""The metrics diff of a pull request: DVC's `metrics diff --json` in, a table out (pure).

`make_diff` reads what `dvc metrics diff --json --all` prints, `{file: {key: {"old", "new",
"diff"}}}` with nested keys flattened and dotted (`models.tuned.rougeL.value`), and decides for
every metric whether it went up or down and whether that is better or worse. `diff_markdown`,
`diff_text` and `diff_json` render the result; nothing here runs a command or reads a file.

Which way is better comes from the metric's name (`DIRECTION_RULES`), unless the metrics file
says otherwise with a top-level hint, `"_directions": {"<dotted key>": "lower"}` ("higher",
"lower" or "none" for a number that is context, not a score); the hint is not a row itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Direction = Literal["higher", "lower"]
Status = Literal["better", "worse", "same", "new", "removed", "changed", "context"]

HINTS_KEY = "_directions"

DIRECTION_RULES: tuple[tuple[str, tuple[str, ...], Direction | None], ...] = (
    ("end", ("ci_low", "ci_high", "n"), None),
    ("word", ("per_s", "per_second", "throughput"), "higher"),
    ("word", ("p50", "p90", "p95", "p99", "s"), "lower"),
    (
        "start",
        (
            "loss",
            "perplexity",
            "latency",
            "error",
            "wall_time",
            "energy",
            "gpu_hours",
            "seconds",
            "drift",
            "thumbs_down",
            "leaked",
            "bias_gap",
            "fail",
            "duplicate",
            "pii",
        ),
        "lower",
    ),
)
"""Which way a metric should move, from its dotted key; the first rule that matches wins.

The key is lower-cased and every run of characters other than letters and digits becomes one
`_`, so `models.tuned.eval-loss` reads `models_tuned_eval_loss`. A rule is (where, words,
direction) and matches when one of its words sits in the key at a word boundary:

* `end`:   at the very end of the key (`rougeL.ci_low`, `rougeL.n`): a confidence bound or a
           sample size printed beside a score; direction None means context, never scored;
* `word`:  as whole words anywhere (`tokens_per_s` is throughput, so higher; `latency.p95`,
           `wall_s` are lower);
* `start`: at the start of a word, longer words included (`eval_loss`, `losses`,
           `error_rate`, `golden_tests.failed`, `near_duplicate_rate`, `pii_found`).

A key no rule matches is a score: higher is better (accuracy, BLEU, ROUGE, exact match ...).
"""

_RULES = tuple(
    (
        re.compile(
            r"(?:^|_)(?:"
            + "|".join(map(re.escape, words))
            + {"end": r")$", "word": r")(?:_|$)", "start": r")"}[where]
        ),
        direction,
    )
    for where, words, direction in DIRECTION_RULES
)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_HINT_VALUES: dict[str, Direction | None] = {"higher": "higher", "lower": "lower", "none": None}

_ARROW = {"up": "▲", "down": "▼"}
_BADGE = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "same": "⚪ same",
    "new": "⚪ new",
    "removed": "⚪ removed",
    "changed": "⚪ changed",
    "context": "",
}
_COUNTED: tuple[Status, ...] = ("better", "worse", "new", "removed", "changed", "same")


@dataclass(frozen=True)
class Row:
    metric: str
    base: Any  # None when the metric is new
    new: Any  # None when it was removed
    status: Status
    direction: Direction | None = None  # which way is better; None for context and text
    change: Decimal | None = None  # new - base, when both are finite numbers
    relative: float | None = None  # change / |base| * 100, when base is not 0

    @property
    def trend(self) -> Literal["up", "down"] | None:
        if self.change is None or self.change == 0:
            return None
        return "up" if self.change > 0 else "down"


@dataclass(frozen=True)
class FileDiff:
    path: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class MetricsDiff:
    base: str  # how to name the base in headings: the ref as given, or a short commit
    files: tuple[FileDiff, ...]  # only files with a row to show, sorted by path

    def count(self, status: Status) -> int:
        return sum(row.status == status for f in self.files for row in f.rows)


def direction_of(key: str, hints: Mapping[str, Direction | None] | None = None) -> Direction | None:
    """'higher' or 'lower' (is better) for a dotted metric key, or None for context."""
    if hints and key in hints:
        return hints[key]
    normal = _NON_WORD.sub("_", key.lower()).strip("_")
    for pattern, direction in _RULES:
        if pattern.search(normal):
            return direction
    return "higher"


def make_diff(dvc_json: Mapping[str, Any], base: str, *, show_all: bool = False) -> MetricsDiff:
    """Rows for what `dvc metrics diff --json --all` printed; unchanged ones only with show_all."""
    files = []
    for path in sorted(dvc_json):
        entries = dvc_json[path]
        if not isinstance(entries, Mapping):
            continue
        hints = _hints(entries)
        rows = [
            _row(key, value.get("old"), value.get("new"), hints)
            for key, value in entries.items()
            if isinstance(value, Mapping) and key != HINTS_KEY and not key.startswith(HINTS_KEY + ".")
        ]
        rows = [r for r in rows if show_all or not _unchanged(r)]
        if rows:
            files.append(FileDiff(path, tuple(sorted(rows, key=_order))))
    return MetricsDiff(base, tuple(files))


# -- rendering -------------------------------------------------------------------------------------


def diff_markdown(diff: MetricsDiff) -> str:
    """GitHub-flavoured Markdown for a job summary or a comment: one table per metrics file."""
    base = _code(diff.base)
    out = [f"### llmops metrics against {base}", ""]
    if not diff.files:
        return "\n".join([*out, f"No metric changed against {base}."]) + "\n"
    out += [_summary(diff), ""]
    for f in diff.files:
        out += [f"#### {_code(f.path)}", ""]
        out += ["| metric | base | this PR | change | |", "| --- | ---: | ---: | ---: | --- |"]
        for row in f.rows:
            cells = (
                _code(row.metric),
                _md_value(row.base),
                _md_value(row.new),
                _change(row),
                _verdict(row, _BADGE[row.status]),
            )
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out[:-1]) + "\n"


def diff_text(diff: MetricsDiff) -> str:
    """Aligned plain text for a terminal."""
    if not diff.files:
        return f"No metric changed against {_one_line(diff.base)}.\n"
    out = [f"Metrics against {_one_line(diff.base)}: {_summary(diff)}"]
    for f in diff.files:
        table = [("metric", "base", "workspace", "change", "")]
        for row in f.rows:
            table.append(
                (
                    _one_line(row.metric),
                    _one_line(_value(row.base)),
                    _one_line(_value(row.new)),
                    _change(row),
                    _verdict(row, "" if row.status == "context" else row.status),
                )
            )
        widths = [max(len(line[i]) for line in table) for i in range(5)]
        out += ["", _one_line(f.path)]
        for line in table:
            cells = [
                cell.ljust(width) if i in (0, 4) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ]
            out.append("  " + "  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def diff_json(diff: MetricsDiff) -> str:
    """The rows as JSON: change as a number, relative in percent, trend up/down/null."""
    files = {
        f.path: [
            {
                "metric": r.metric,
                "base": _json_value(r.base),
                "new": _json_value(r.new),
                "change": None if r.change is None else _number(r.change),
                "relative_percent": None if r.relative is None else round(r.relative, 4),
                "trend": r.trend,
                "better": r.direction,
                "status": r.status,
            }
            for r in f.rows
        ]
        for f in diff.files
    }
    counts = {s: diff.count(s) for s in _COUNTED}
    return json.dumps({"base": diff.base, "counts": counts, "files": files}, indent=2, allow_nan=False) + "\n"


# -- helpers -----------------------------------------------------------------------------------------


def _hints(entries: Mapping[str, Any]) -> dict[str, Direction | None]:
    """The file's `_directions` hints, as DVC flattened them (`_directions.<key>`); the new
    file's word wins over the base's, and a value other than higher/lower/none is ignored."""
    hints: dict[str, Direction | None] = {}
    prefix = HINTS_KEY + "."
    for key, value in entries.items():
        if key.startswith(prefix) and isinstance(value, Mapping):
            for side in ("old", "new"):
                word = value.get(side)
                if isinstance(word, str) and word.strip().lower() in _HINT_VALUES:
                    hints[key[len(prefix) :]] = _HINT_VALUES[word.strip().lower()]
    return hints


def _row(key: str, old: Any, new: Any, hints: Mapping[str, Direction | None]) -> Row:
    a, b = _decimal(old), _decimal(new)
    direction = direction_of(key, hints) if a is not None or b is not None else None
    if old is None or new is None:
        status: Status = "same" if old is None and new is None else "new" if old is None else "removed"
        return Row(key, old, new, status, direction)
    if a is None or b is None:
        return Row(key, old, new, "same" if old == new else "changed")
    change = b - a
    relative = float(change / abs(a) * 100) if a != 0 else None
    if direction is None:
        status = "context"
    elif change == 0:
        status = "same"
    else:
        status = "better" if (change > 0) == (direction == "higher") else "worse"
    return Row(key, old, new, status, direction, change, relative)


def _decimal(value: Any) -> Decimal | None:
    """A finite number as the Decimal of its shortest repr, so 0.35 - 0.31 is exactly 0.04."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        return Decimal(repr(value))
    except InvalidOperation:  # pragma: no cover - repr of a finite number always parses
        return None


def _unchanged(row: Row) -> bool:
    return row.status == "same" or (row.status == "context" and row.change == 0)


def _order(row: Row) -> tuple[tuple[bool, str], ...]:
    """Sorted by the key's parts, with a score's context (`x.ci_low`, `x.n`) after its siblings."""
    *parents, last = row.metric.split(".")
    context = row.status == "context" or direction_of(row.metric) is None
    return (*((False, part) for part in parents), (context, last))


def _verdict(row: Row, word: str) -> str:
    """▲ or ▼ (not for context, which is not scored) and the word for the row's status."""
    arrow = _ARROW[row.trend] if row.trend and row.status != "context" else ""
    return " ".join(part for part in (arrow, word) if part)


def _summary(diff: MetricsDiff) -> str:
    parts = [f"{diff.count(s)} {s}" for s in _COUNTED if diff.count(s)]
    context = diff.count("context")
    if context:
        parts.append(f"{context} context")
    return ", ".join(parts)


def _change(row: Row) -> str:
    if row.change is None:
        return ""
    text = _signed(row.change)
    if row.relative is not None and row.change != 0:
        pct = row.relative
        shown = f"{pct:+.1f}" if abs(pct) >= 0.05 else f"{pct:+.1g}"
        text += f" ({shown}%)"
    return text


def _signed(value: Decimal) -> str:
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text if text.startswith("-") else "+" + text


def _json_value(value: Any) -> Any:
    """A value for strict JSON: NaN and the infinities as their names."""
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _md_value(value: Any) -> str:
    text = _value(value)
    return text if isinstance(value, (int, float)) or value is None else _md(text)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def _md(text: str) -> str:
    """Plain text for a table cell: Markdown and HTML characters escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def _code(text: str) -> str:
    """A code span for a table cell, whatever the text holds: a fence longer than any run of
    backticks inside, padded when the text starts or ends with one, and `|` escaped (GFM
    splits table cells before it reads code spans)."""
    text = _one_line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)
