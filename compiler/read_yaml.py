"""Read one YAML spec file into plain data plus the line and column of every node.

libyaml (through PyYAML's C composer) builds the node tree with marks at about 0.1 ms per
spec, which is what lets a 1,000-spec project compile in well under a second; the pure
round-trip loaders cost 30x more. Scalars resolve as in YAML 1.2 (`on`/`no` stay strings,
`1e-4` is a float), so specs mean the same in llmops, in editors and in ruamel-based tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from llmops.errors import Diagnostic

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """libyaml composer with YAML 1.2 core-schema scalar resolution."""

    # libyaml calls these back for every node. With no path resolvers (this loader has none)
    # the tag depends on the node's kind, text and implicitness only, so it is remembered.
    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and len(value) > 100:
            return super().resolve(kind, value, implicit)  # prose: not worth remembering
        key = (kind, value, implicit) if kind is yaml.ScalarNode else kind
        tag = _TAGS.get(key)
        if tag is None:
            if len(_TAGS) > 100_000:
                _TAGS.clear()
            tag = _TAGS[key] = super().resolve(kind, value, implicit)
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_TAGS: dict[Any, str] = {}


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
):
    _Loader.add_implicit_resolver(_tag, _regexp, list(_first))
assert not _Loader.yaml_path_resolvers  # what lets _Loader skip the path bookkeeping

_SCALARS = yaml.constructor.SafeConstructor()
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float")}


@dataclass
class SourceDoc:
    """A loaded YAML mapping and where each of its nodes stands in the file."""

    path: str
    data: dict[str, Any]
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the node at loc, or of its nearest existing parent."""
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, (1, 1))


def load_text(path: str, text: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Parse one spec file; a problem comes back as diagnostics, never as an exception."""
    conflict = _CONFLICT.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        return None, [
            Diagnostic(path, line, 1, "", "merge-conflict marker in the file", "resolve the conflict")
        ]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [
            Diagnostic(path, 1, 1, "", "the file is empty", "write a spec with `kind:` and `name:`")
        ]
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(x for x in (exc.context, exc.problem) if x)
        return None, [Diagnostic(path, line, col, "", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(path, 1, 1, "", f"YAML syntax error: {exc}")]
    nodes = [n for n in nodes if n is not None]
    if len(nodes) != 1:
        if not nodes:
            return None, [Diagnostic(path, 1, 1, "", "the file holds no YAML document")]
        line = nodes[1].start_mark.line + 1
        return None, [Diagnostic(path, line, 1, "", "more than one YAML document", "keep one spec per file")]
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        line, col = root.start_mark.line + 1, root.start_mark.column + 1
        found = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return None, [
            Diagnostic(
                path,
                line,
                col,
                "",
                f"the document is {found}, not a mapping",
                "a spec is a mapping with `kind:`, `name:` and its fields",
            )
        ]
    doc = SourceDoc(path=path, data={})
    errors: list[Diagnostic] = []
    doc.data = _build(root, (), doc, errors)
    return doc, errors


def _build(node: yaml.Node, loc: Path_, doc: SourceDoc, errors: list[Diagnostic]) -> Any:
    mark = node.start_mark
    doc.values[loc] = (mark.line + 1, mark.column + 1)
    kind = type(node)
    if kind is yaml.ScalarNode:
        try:
            return _scalar(node)
        except yaml.YAMLError as exc:
            errors.append(_at(doc.path, node, loc, f"bad value: {getattr(exc, 'problem', None) or exc}"))
            return None
    if node.tag not in _COLLECTION_TAGS:
        errors.append(_at(doc.path, node, loc, f"unsupported YAML tag '{node.tag}'"))
        return None
    if kind is yaml.MappingNode:
        if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
            _SCALARS.flatten_mapping(node)
        out: dict[str, Any] = {}
        keys = doc.keys
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode:
                errors.append(_at(doc.path, key_node, loc, "a key must be a plain value"))
                continue
            try:
                key = str(_scalar(key_node))
            except yaml.YAMLError:
                errors.append(_at(doc.path, key_node, loc, f"unsupported YAML tag '{key_node.tag}'"))
                continue
            where = loc + (key,)
            if key in out:
                errors.append(_at(doc.path, key_node, where, f"duplicate key '{key}'"))
                continue
            mark = key_node.start_mark
            keys[where] = (mark.line + 1, mark.column + 1)
            out[key] = _build(value_node, where, doc, errors)
        return out
    return [_build(item, loc + (i,), doc, errors) for i, item in enumerate(node.value)]


def _scalar(node: yaml.ScalarNode) -> Any:
    """What `_SCALARS.construct_object(node)` gives, without its per-node bookkeeping for the
    tags plain YAML resolves to (the constructor would also keep every node it saw)."""
    tag = node.tag
    if tag == "tag:yaml.org,2002:str":
        return node.value
    if tag in _PLAIN_TAGS:
        return _SCALARS.yaml_constructors[tag](_SCALARS, node)
    value = _SCALARS.construct_object(node)
    _SCALARS.constructed_objects.pop(node, None)
    return value


def _at(path: str, node: yaml.Node, loc: Path_, message: str) -> Diagnostic:
    field_name = ".".join(str(p) for p in loc)
    return Diagnostic(path, node.start_mark.line + 1, node.start_mark.column + 1, field_name, message)
