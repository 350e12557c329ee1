"""dvc.yaml and the per-stage params files, from the stage graph.

The trials of a sweep become one DVC `matrix` stage. DVC names each trial `<group>@<key>`, the
key being the values joined by '-', which is exactly the name the compiler gave it; `${key}`
puts that key into the command, the params file and the output paths.

Both are written by small dedicated writers that give exactly the bytes of the general ones
(`yaml.dump` with libyaml's emitter, `json.dumps(indent=2)`), which cost a third of a large
compile; tests compare the two on every golden project and on generated names and paths. The
YAML writer handles the shapes dvc.yaml has (block mappings and sequences of plain scalars);
for anything else it gives up and the document goes through `yaml.dump`.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import yaml

from llmops.compiler.emit.header import HEADER_TEXT, yaml_header
from llmops.compiler.graph import StageGraph
from llmops.compiler.stages import STAGE_CONFIG_DIR, Stage

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MATRIX_NAME = re.compile(r"^[a-z][a-z0-9-]{0,80}$")
_KEY = "${key}"


class _Quoted(str):
    """A matrix value that is a string: always written quoted, so DVC never reads `1e5` or `true`
    in it as a number or a boolean (which would change the trial's name)."""


class _Dumper(_DUMPER):  # type: ignore[misc,valid-type]
    pass


_Dumper.add_representer(
    _Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')
)


def emit_dvc(graph: StageGraph) -> dict[str, str]:
    stages = graph.pipeline
    files = {"dvc.yaml": _dvc_yaml(stages)}
    for stage in stages:
        files[stage.config_path] = stage_config_text(stage)
    return files


def stage_config_text(stage: Stage) -> str:
    body = {"//": HEADER_TEXT, **stage.params()}
    return json_text(body)


def json_text(data: Any) -> str:
    """`json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"`, byte for byte.

    json's indented output runs its pure-Python encoder; this one builds the same text around
    the C string escaping json uses, in half the time. Anything beyond JSON's own types
    (str, int, float, bool, None, dict with str keys, list, tuple) goes to json.dumps itself.
    """
    try:
        return _json(data, "\n") + "\n"
    except _GiveUp:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _GiveUp(Exception):
    """A value the dedicated writers do not handle: the general one writes the whole file."""


_json_str = json.encoder.encode_basestring  # ensure_ascii=False: C escaping of " \\ and controls
_JSON_CONSTANTS = {True: "true", False: "false", None: "null"}


def _json(value: Any, newline: str) -> str:
    kind = type(value)
    if kind is str:
        return _json_str(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        parts = []
        for key in sorted(value):
            if type(key) is not str:
                raise _GiveUp
            parts.append(_json_str(key) + ": " + _json(value[key], inner))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([_json(item, inner) for item in value]) + newline + "]"
    if kind is bool or value is None:
        return _JSON_CONSTANTS[value]
    if kind is int:
        return int.__repr__(value)
    if kind is float and value == value and value not in (_INF, -_INF):
        return float.__repr__(value)
    raise _GiveUp


def _dvc_yaml(stages: tuple[Stage, ...]) -> str:
    entries: dict[str, Any] = {}
    groups: dict[str, list[Stage]] = {}
    for stage in stages:
        if stage.matrix is None:
            entries[stage.name] = _stage_entry(stage)
        elif stage.matrix.group not in groups:
            groups[stage.matrix.group] = [stage]
            entries[stage.matrix.group] = None  # filled below, at its first trial's place
        else:
            groups[stage.matrix.group].append(stage)
    for group, trials in groups.items():
        entries[group] = _matrix_entry(group, trials)
    return yaml_header() + block_yaml({"stages": entries})


def block_yaml(data: dict[str, Any]) -> str:
    """What `reference_yaml(data)` gives, written directly for dvc.yaml's shapes."""
    try:
        return _block_yaml(data)
    except _GiveUp:
        return reference_yaml(data)


def _block_yaml(data: dict[str, Any]) -> str:
    if type(data) is not dict:
        raise _GiveUp
    lines: list[str] = []
    _mapping(data, "", "", lines, {id(data)})
    lines.append("")
    return "\n".join(lines)


def reference_yaml(data: Any) -> str:
    """dvc.yaml's YAML as PyYAML writes it with libyaml: the definition `block_yaml` follows."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )


# libyaml writes a string plain (unquoted) when it has no indicator, space or break where YAML
# would read one, and PyYAML's resolver would read it back as a string (not `true`, `1e5`, `~`).
# Strings of these characters have neither problem, unless the resolver check says otherwise; any
# other string is quoted by libyaml itself (once per distinct string).
_PLAIN = re.compile(r"[A-Za-z0-9_./$(][A-Za-z0-9_./$(){}\[\]@=+~*?,!&%<>'\" -]*")
_DOUBLE_QUOTED = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \\: written as it is
_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
_RESOLVERS = _Dumper.yaml_implicit_resolvers
_SHORT = 400  # well below the width (1000) at which libyaml would fold a line
_CACHED = 100_000  # strings whose YAML is remembered, across compiles in one process
_INF = float("inf")
_keys: dict[str, str] = {}
_values: dict[Any, str] = {}


def _mapping(data: dict[str, Any], indent: str, first: str, lines: list[str], seen: set[int]) -> None:
    """A block mapping at `indent`; its first line starts with `first` (`- ` in a sequence)."""
    lead = first or indent
    for key, value in data.items():
        text = _keys.get(key) if type(key) is str else None
        if text is None:
            text = _key(key)
        kind = type(value)
        if kind is dict or kind is list:
            if id(value) in seen:
                raise _GiveUp  # PyYAML would write an anchor and an alias
            seen.add(id(value))
            if not value:
                lines.append(f"{lead}{text}: {'{}' if kind is dict else '[]'}")
            elif kind is dict:
                lines.append(f"{lead}{text}:")
                _mapping(value, indent + "  ", "", lines, seen)
            else:
                lines.append(f"{lead}{text}:")
                _sequence(value, indent, lines, seen)
        else:
            lines.append(f"{lead}{text}: {_scalar(value)}")
        lead = indent


def _sequence(items: list[Any], indent: str, lines: list[str], seen: set[int]) -> None:
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if id(item) in seen:
                raise _GiveUp
            seen.add(id(item))
            if not item:
                lines.append(f"{indent}- {'{}' if kind is dict else '[]'}")
            elif kind is dict:
                _mapping(item, indent + "  ", indent + "- ", lines, seen)
            else:
                raise _GiveUp  # a sequence in a sequence: not in dvc.yaml
        else:
            lines.append(f"{indent}- {_scalar(item)}")


def _key(key: Any) -> str:
    if type(key) is not str:
        raise _GiveUp
    if len(key) <= 128 and _plain(key):
        text = key
    elif len(key) > _SHORT:
        raise _GiveUp
    else:  # as libyaml writes it as a simple key (`? ` and a break above 128 bytes: give up)
        text = _single_line(reference_yaml({key: 0}), ": 0\n")
    if len(_keys) > _CACHED:
        _keys.clear()
    _keys[key] = text
    return text


def _scalar(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text = _values.get(value)
        if text is None:
            if len(_values) > _CACHED:
                _values.clear()
            text = _values[value] = value if _plain(value) else _quoted(value)
        return text
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value:
            return ".nan"
        if value in (_INF, -_INF):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if kind is _Quoted and len(value) <= _SHORT and _DOUBLE_QUOTED.fullmatch(value):
        return f'"{value}"'
    if kind is _Quoted:
        return _quoted(value)
    raise _GiveUp


def _plain(text: str) -> bool:
    if len(text) > _SHORT or not _PLAIN.fullmatch(text) or text[-1] == " " or text.startswith("..."):
        return False
    return not any(regexp.match(text) for _, regexp in _RESOLVERS.get(text[0], ()))


def _quoted(value: Any) -> str:
    """A value as libyaml writes it after `key: ` on one line (or give up)."""
    if len(value) > _SHORT:
        raise _GiveUp
    return _single_line(reference_yaml({"k": value})[3:], "\n")


def _single_line(text: str, end: str) -> str:
    if not text.endswith(end) or _BREAK.search(text[: -len(end)]) or len(text) > _SHORT + len(end):
        raise _GiveUp  # a line break (any of YAML's) or a long line: its indentation would differ
    return text[: -len(end)]


def _matrix_entry(group: str, trials: list[Stage]) -> dict[str, Any]:
    """One `matrix` stage for the trials of a sweep; DVC expands it back into exactly these."""
    first = trials[0]
    matrix = first.matrix
    assert matrix is not None
    if not _MATRIX_NAME.match(group):
        raise ValueError(f"sweep stage name {group!r} is not a plain identifier")
    expanded = {f"{group}@{t.matrix.key}" for t in trials if t.matrix}
    if expanded != {t.name for t in trials} or len(trials) != _product(matrix.axes):
        raise AssertionError(f"the trials of {group} are not the full matrix DVC expands")
    if any(t.deps != first.deps for t in trials):
        raise AssertionError(f"the trials of {group} do not share their dependencies")
    templated = Stage(
        name=f"{group}@{_KEY}",
        kind=first.kind,
        spec=first.spec,
        config=None,
        deps=first.deps,
        outs=matrix.outs,
        metrics=matrix.metrics,
        plots=matrix.plots,
    )
    entry = {
        "matrix": {key: [_matrix_value(v) for v in values] for key, values in matrix.axes},
        **_stage_entry(templated, cmd=f"llmops run {group}@{_KEY}"),
    }
    entry["params"] = [{f"{STAGE_CONFIG_DIR}/{group}@{_KEY}.json": None}]
    return entry


def _matrix_value(value: Any) -> Any:
    return _Quoted(value) if isinstance(value, str) else value


def _product(axes: tuple[tuple[str, tuple[Any, ...]], ...]) -> int:
    count = 1
    for _, values in axes:
        count *= len(values)
    return count


def _stage_entry(stage: Stage, *, cmd: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"cmd": cmd or f"llmops run {shlex.quote(stage.name)}"}
    if stage.deps:
        entry["deps"] = list(stage.deps)
    entry["params"] = [{stage.config_path: None}]
    # persist: DVC would delete outputs before running the stage; runners replace them
    # atomically themselves, so an interrupted or failed run leaves the previous ones in place.
    if stage.outs or stage.reports:
        entry["outs"] = [{o: {"persist": True}} for o in stage.outs]
        # reports are small Markdown files kept in git, so a pull request shows them
        entry["outs"] += [{r: {"cache": False, "persist": True}} for r in stage.reports]
    if stage.metrics:
        entry["metrics"] = [{m: {"cache": False, "persist": True}} for m in stage.metrics]
    if stage.plots:
        entry["plots"] = [
            {p: {"cache": False, "persist": True, **stage.plot_props.get(p, {})}} for p in stage.plots
        ]
    return entry
