"""Add an exported feedback file to a Dataset spec as a source, keeping the file as people wrote it.

A full ruamel.yaml round trip keeps comments but still rewrites some flow collections
(`[{step: x}]` comes back as `[step: x]`), so the edit is made on the text instead: ruamel finds
where the `sources:` list ends (or where the item reading the same file sits), and the new item,
rendered by ruamel in the list's own indentation, goes in there. Every other byte stays. When a
source already reads the same file its item is replaced, so exporting again never duplicates it.
The result is parsed again before it atomically replaces the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from llmops.atomic import write_text
from llmops.errors import UsageError


def source_yaml(entry: dict[str, Any], dash: int = 2) -> str:
    """The `sources:` item to paste into a Dataset spec, `dash` spaces before its `-`."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096  # one line per flow map, like the example project's sources
    yaml.indent(mapping=2, sequence=2, offset=0)
    buffer = io.StringIO()
    yaml.dump([_styled(entry)], buffer)
    return "".join(" " * dash + line for line in buffer.getvalue().splitlines(keepends=True))


def add_source(spec_path: Path, entry: dict[str, Any]) -> str:
    """Add (or update) the source in the spec file; returns "added" or "updated"."""
    text = spec_path.read_text(encoding="utf-8")
    data = _load(text)
    sources = data.get("sources") if hasattr(data, "get") else None
    if not isinstance(sources, list) or not sources or sources.fa.flow_style() is True:
        raise UsageError(
            f"{spec_path}: `sources:` is not a block list (`- path: ...` items); add this source by hand:\n"
            + source_yaml(entry)
        )
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    starts = [sources.lc.item(i)[0] for i in range(len(sources))]
    dash = _dash_column(lines[starts[0]])
    end = _list_end(data, lines)
    action, at, stop = "added", end, end
    for i, item in enumerate(sources):
        if isinstance(item, dict) and item.get("path") == entry["path"]:
            action, at = "updated", starts[i]
            stop = starts[i + 1] if i + 1 < len(sources) else end
            stop = _back_over_comments(lines, at, stop)
            break
    new = lines[:at] + [source_yaml(entry, dash)] + lines[stop:]
    result = "".join(new)
    check = _load(result)["sources"]
    if sum(1 for s in check if isinstance(s, dict) and s.get("path") == entry["path"]) != 1:
        raise UsageError(
            f"{spec_path}: could not add the source safely; add it by hand:\n{source_yaml(entry)}"
        )
    write_text(spec_path, result)
    return action


def _load(text: str, path: str = "<spec>") -> Any:
    """The spec for a comment-keeping edit (ruamel round trip), measured first so a bomb in it
    is refused (yamlsafe.YamlError, exit 2) before ruamel expands anything."""
    from ruamel.yaml import YAML

    from llmops.yamlsafe import compose

    compose(path, text)
    return YAML().load(text)


def _dash_column(line: str) -> int:
    """Spaces before the `-` of a list item (its line may start with `- ` or `  - `)."""
    return len(line) - len(line.lstrip(" "))


def _list_end(data: Any, lines: list[str]) -> int:
    """Index of the first line after the `sources:` list: the next top-level key's line (less the
    comments and blank lines just above it, which belong to that key), or the end of the file."""
    keys = list(data.keys())
    after = keys[keys.index("sources") + 1 :]
    if not after:
        end = len(lines)
        while end > 0 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        return end
    next_line = data.lc.key(after[0])[0]
    return _back_over_comments(lines, 0, next_line)


def _back_over_comments(lines: list[str], floor: int, end: int) -> int:
    while end > floor + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _styled(entry: dict[str, Any]) -> Any:
    """`path` in block style, `fields` and `provenance` as one-line flow maps (like the example),
    `priority` (when given) between them."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    out = CommentedMap()
    out["path"] = entry["path"]
    for key in ("fields", "priority", "provenance"):
        if key not in entry:
            continue
        if key == "priority":
            out[key] = entry[key]
            continue
        values = {k: v for k, v in entry[key].items() if v != ""}
        if key == "provenance" and "collected_at" in values:
            values["collected_at"] = DoubleQuotedScalarString(values["collected_at"])  # a date, as text
        inner = CommentedMap(values)
        inner.fa.set_flow_style()
        out[key] = inner
    return out
