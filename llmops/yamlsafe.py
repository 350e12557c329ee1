"""The one YAML reader for text a user or the git history controls, with bounded cost.

Aliases let a few hundred bytes stand for billions of nodes (`&a [*a, *a, ...]` nine levels
deep), merge keys (`<<`) multiply the same way, and `&a [*a]` is a cycle. Any reader that
expands such text runs out of time or memory, or recurses without end. So every document is
composed (libyaml: aliases are shared nodes there, so composing costs what the text costs) and
its node graph is measured before anything walks it as a tree: a cycle, more than
`MAX_ALIAS_NODES` nodes added by alias expansion, or nesting deeper than `MAX_DEPTH` is refused
with the line it starts on. Text without an anchor (`&`) has no alias, so it skips the walk and
the spec compile pays nothing for it.

Scalars resolve as in YAML 1.2 (`on`/`no` stay strings, `1e-4` is a float), so a file means the
same here, in editors and in ruamel-based tools such as DVC. The compiler reads specs through
`compose` (it keeps each node's position); `load` gives plain data as DVC reads it (dvc.yaml,
dvc.lock), built by ruamel once the text has passed the same measure.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from llmops.errors import LlmopsError

# Nodes that alias expansion may add to one document, and how deep it may nest: far above what a
# real spec or dvc.lock uses (anchors there save a few repeated blocks), far below what hurts.
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 100

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
MERGE_TAG = "tag:yaml.org,2002:merge"
COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float")}


class YamlError(LlmopsError, ValueError):
    """YAML that cannot be read, or that would cost too much to: the file, line and why.

    A ValueError too, so readers of history that treat a broken file as a shape problem keep
    doing so."""

    def __init__(self, path: str, line: int, col: int, message: str, hint: str = "") -> None:
        self.path, self.line, self.col, self.message, self.hint = path, line, col, message, hint
        where = f"{path}:{line}:{col}" if line else path
        super().__init__(f"{where}: {message}" + (f" ({hint})" if hint else ""))


class Loader(_Base):  # type: ignore[misc, valid-type]
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

Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
):
    Loader.add_implicit_resolver(_tag, _regexp, list(_first))
assert not Loader.yaml_path_resolvers  # what lets Loader skip the path bookkeeping

_SCALARS = yaml.constructor.SafeConstructor()


def compose(path: str, text: str) -> list[yaml.Node]:
    """Every document of `text` as a node graph that is safe to walk as a tree.

    Raises YamlError (syntax, a cycle, too much alias expansion, too deep)."""
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=Loader) if n is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(x for x in (exc.context, exc.problem) if x)
        raise YamlError(path, line, col, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(path, 1, 1, f"YAML syntax error: {exc}") from None
    if "&" in text:  # without an anchor there is no alias: the tree is the text
        for node in nodes:
            if type(node) is not yaml.ScalarNode:
                check_budget(path, node)
    return nodes


def check_budget(path: str, root: yaml.Node) -> None:
    """Refuse a node graph with a cycle, or whose tree (aliases expanded, merge keys counted as
    their mappings) adds more than MAX_ALIAS_NODES nodes or nests deeper than MAX_DEPTH.

    Each distinct collection is measured once (its size and height remembered), so the cost is
    the text's, and the recursion stops at MAX_DEPTH."""
    _Measure(path).visit(root, 0)


_OPEN = (-1, -1)  # a collection being measured: meeting it again is a cycle


class _Measure:
    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: dict[int, tuple[int, int]] = {}  # id(collection) -> (expanded size, height)
        self.distinct = 0  # nodes of the graph visited once: what the text itself holds

    def visit(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        got = self.seen.get(key)
        if got is not None:
            if got is _OPEN:
                raise _refused(
                    self.path, node, "an alias refers to a value that contains it (a cycle): refused"
                )
            if depth + got[1] > MAX_DEPTH:
                raise self._too_deep(node)
            return got
        if depth >= MAX_DEPTH:
            raise self._too_deep(node)
        self.seen[key] = _OPEN
        kids = node.value if type(node) is yaml.SequenceNode else [n for pair in node.value for n in pair]
        total, height = 1, 1
        scalar_node = yaml.ScalarNode
        for kid in kids:
            if type(kid) is scalar_node:
                total += 1
                continue
            size, high = self.visit(kid, depth + 1)
            total += size
            if high >= height:
                height = high + 1
        self.distinct += 1 + sum(type(k) is scalar_node for k in kids)
        if total - self.distinct > MAX_ALIAS_NODES:
            why = f"aliases expand this value to {total:,} nodes or more (at most {MAX_ALIAS_NODES:,} may"
            raise _refused(self.path, node, why + " come from aliases): refused as a YAML bomb")
        self.seen[key] = (total, height)
        return total, height

    def _too_deep(self, node: yaml.Node) -> YamlError:
        return _refused(self.path, node, f"this value nests deeper than {MAX_DEPTH} levels: refused")


def _refused(path: str, node: yaml.Node, why: str) -> YamlError:
    mark = node.start_mark
    hint = "write the values out, or use fewer anchors and aliases"
    return YamlError(path, mark.line + 1, mark.column + 1, why, hint)


def merge_keys(path: str, node: yaml.MappingNode) -> None:
    """Apply `<<` merge keys in place (a measured graph bounds what they add)."""
    if any(k.tag == MERGE_TAG for k, _ in node.value):
        try:
            _SCALARS.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or node.start_mark
            raise YamlError(
                path, mark.line + 1, mark.column + 1, f"bad merge key (<<): {exc.problem}"
            ) from None


def scalar(node: yaml.ScalarNode) -> Any:
    """What `SafeConstructor.construct_object(node)` gives, without its per-node bookkeeping for
    the tags plain YAML resolves to (the constructor would also keep every node it saw).
    Raises yaml.YAMLError for a value its tag does not allow."""
    tag = node.tag
    if tag == "tag:yaml.org,2002:str":
        return node.value
    if tag in _PLAIN_TAGS:
        return _SCALARS.yaml_constructors[tag](_SCALARS, node)
    value = _SCALARS.construct_object(node)
    _SCALARS.constructed_objects.pop(node, None)
    return value


def load(text: str, path: str = "<yaml>") -> Any:
    """One YAML document as plain data (None for an empty one), as DVC reads it. Raises YamlError
    for anything unreadable: syntax, a bomb, several documents, a tag beyond plain YAML.

    The text is composed and measured here first (its depth too, anchors or not); only then does
    ruamel's safe loader build the data, so dvc.yaml, dvc.lock and params files keep the exact
    values DVC itself reads (dates, `1_000`), and a bomb never reaches it."""
    nodes = compose(path, text)
    if len(nodes) > 1:
        raise YamlError(path, nodes[1].start_mark.line + 1, 1, "more than one YAML document")
    if not nodes:
        return None
    if "&" not in text and type(nodes[0]) is not yaml.ScalarNode:
        check_budget(path, nodes[0])  # compose() measured only texts with anchors
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(path, line, col, f"YAML error: {problem}") from None
