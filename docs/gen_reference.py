"""The spec reference, generated from the pydantic spec models so that it cannot drift from them.

Used as a MkDocs hook (`hooks:` in mkdocs.yml). A page with the marker
`<!-- spec-reference: Dataset -->` on a line of its own gets, in its place, one table per model:
the kind itself, then every model nested in it (in the order its fields first name them), each
under its own heading, with the field names, types, defaults, descriptions and constraints the
models declare. The marker `<!-- spec-reference: value-types -->` becomes the table of the named
value types (`Name`, `RelPath`, ...) that the type columns link to.

The build fails when a marker names no kind, or when a kind in `ALL_KINDS` has no page with its
marker, so a new kind cannot be left out of the site.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from llmops.compiler import kinds
from llmops.compiler.kinds import ALL_KINDS

MARKER = re.compile(r"^<!--\s*spec-reference:\s*([A-Za-z][A-Za-z-]*)\s*-->[ \t]*$", re.MULTILINE)
VALUE_TYPES = "value-types"
VALUE_TYPES_LINK = "index.md#value-types"
_PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


# -- walking the models ---------------------------------------------------------------------------


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def models_in(tp: Any) -> Iterator[type[BaseModel]]:
    """Every model class a type annotation names, at any depth (lists, maps, unions, Annotated)."""
    if is_model(tp):
        yield tp
        return
    for arg in typing.get_args(tp):
        yield from models_in(arg)


def model_tree(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root`, then every model reachable through its fields, in the order fields first name them."""
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for nested in models_in(field.annotation):
                visit(nested)

    visit(root)
    return seen


def anchors(models: list[type[BaseModel]]) -> dict[type[BaseModel], str]:
    """A heading id per model, unique on the page even when two modules use the same class name."""
    ids: dict[type[BaseModel], str] = {}
    for model in models:
        base = "ref-" + model.__name__.lower()
        ident, n = base, 2
        while ident in ids.values():
            ident, n = f"{base}-{n}", n + 1
        ids[model] = ident
    return ids


# -- named value types (`Name = Annotated[str, ...]` in the kinds modules) --------------------------


def value_types() -> list[tuple[str, Any]]:
    """(display name, alias) for each module-level Annotated scalar type of the kinds modules."""
    found: list[tuple[str, Any]] = []
    names = ["common"] + sorted(m.name for m in pkgutil.iter_modules(kinds.__path__) if m.name != "common")
    for module_name in names:
        module = importlib.import_module(f"{kinds.__name__}.{module_name}")
        for name, value in vars(module).items():
            if typing.get_origin(value) is not Annotated or name.startswith("__"):
                continue
            base = typing.get_args(value)[0]
            if any(True for _ in models_in(base)):
                continue  # a union of models, such as the cleaning steps: rendered as the union
            if any(alias is value for _, alias in found):
                continue
            found.append((name.rstrip("_"), value))
    return found


def alias_name(tp: Any, aliases: list[tuple[str, Any]]) -> str | None:
    for name, alias in aliases:
        if alias is tp:
            return name
    for name, alias in aliases:
        try:
            if alias == tp:
                return name
        except Exception:  # metadata objects that cannot compare
            continue
    return None


def used_value_types() -> list[tuple[str, Any]]:
    """The named value types some field of some kind uses: common.py's first, then by module."""
    aliases = value_types()
    used: set[str] = set()

    def scan(tp: Any) -> None:
        name = alias_name(tp, aliases) if typing.get_origin(tp) is Annotated else None
        if name:
            used.add(name)
        for arg in typing.get_args(tp):
            scan(arg)

    for kind in ALL_KINDS.values():
        for model in model_tree(kind):
            hints = _hints(model)
            for field_name, field in model.model_fields.items():
                scan(hints.get(field_name, field.annotation))
                scan(field.annotation)
    return [(name, alias) for name, alias in aliases if name in used]


# -- rendering ------------------------------------------------------------------------------------


def _hints(model: type[BaseModel]) -> dict[str, Any]:
    """The annotations as written (named value types kept); {} if they cannot be resolved."""
    try:
        return typing.get_type_hints(model, include_extras=True)
    except Exception:
        return {}


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _cell(text: str) -> str:
    """Text for a table cell: one line, pipes outside code escaped."""
    text = " ".join(text.split())
    parts = re.split(r"(``.*?``|`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _join(items: list[str], word: str = "or") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _strip_none(args: tuple[Any, ...]) -> list[Any]:
    return [a for a in args if a is not type(None)]


def type_text(tp: Any, links: dict[type[BaseModel], str], aliases: list[tuple[str, Any]]) -> str:
    """A field's type in words, models and named value types as links."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        name = alias_name(tp, aliases)
        if name:
            return f"[{name}]({VALUE_TYPES_LINK})"
        base, *meta = typing.get_args(tp)
        extra = constraints(meta, base)
        text = type_text(base, links, aliases)
        return f"{text} ({', '.join(extra)})" if extra else text
    if is_model(tp):
        return f"[{tp.__name__}](#{links[tp]})" if tp in links else tp.__name__
    if tp in _PRIMITIVES:
        return _PRIMITIVES[tp]
    if tp is Any:
        return "any"
    if origin is Literal:
        return _join([_code(_scalar(v)) for v in typing.get_args(tp)])
    if origin in (Union, types.UnionType):
        args = _strip_none(typing.get_args(tp))
        if len(args) == 1:
            return type_text(args[0], links, aliases)
        return _join([type_text(a, links, aliases) for a in args])
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"list of {type_text(item, links, aliases)}"
    if origin is dict:
        key, value = typing.get_args(tp) or (str, Any)
        key_text = type_text(key, links, aliases)
        if typing.get_origin(key) is Literal:
            key_text = f"({key_text})"
        return f"map of {key_text} → {type_text(value, links, aliases)}"
    return _code(getattr(tp, "__name__", str(tp)))


def constraints(metadata: list[Any], tp: Any = str) -> list[str]:
    """Bounds, lengths and patterns of annotated-types, pydantic and StringConstraints metadata."""
    unit = "items" if _is_sized(tp) else "characters"
    found: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            found += constraints(list(item.metadata), tp)
            continue
        for attr, text in (("ge", "≥ {}"), ("gt", "> {}"), ("le", "≤ {}"), ("lt", "< {}")):
            value = getattr(item, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append(text.format(_scalar(value)))
        min_length = getattr(item, "min_length", None)
        max_length = getattr(item, "max_length", None)
        if min_length is not None:
            found.append(f"at least {min_length} {unit if min_length != 1 else unit[:-1]}")
        if max_length is not None:
            found.append(f"at most {max_length:,} {unit}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append(f"matches {_code(pattern)}")
    return found


def _is_sized(tp: Any) -> bool:
    """A list or a map, possibly optional or annotated: its lengths count items, not characters."""
    origin = typing.get_origin(tp)
    if origin in (list, dict) or tp in (list, dict):
        return True
    if origin is Annotated:
        return _is_sized(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return any(_is_sized(a) for a in _strip_none(typing.get_args(tp)))
    return False


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def _flow(value: Any) -> str:
    """A value in YAML flow style, as it would be written in a spec."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z_/][\w./@:-]*", value) and value not in ("true", "false", "null")
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return _scalar(value)


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "*computed*"
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    return _code(_flow(value))


def field_row(
    name: str,
    field: FieldInfo,
    hint: Any,
    links: dict[type[BaseModel], str],
    aliases: list[tuple[str, Any]],
) -> str:
    top = hint
    if typing.get_origin(top) in (Union, types.UnionType):
        rest = _strip_none(typing.get_args(top))
        top = rest[0] if len(rest) == 1 else top
    # pydantic moves the metadata of a top-level Annotated type onto the field; not from inside `| None`
    moved = top is hint
    if typing.get_origin(top) is Annotated and alias_name(top, aliases):
        # a named value type: its own constraints are documented with it
        own = {repr(m) for m in typing.get_args(top)[1:]}
        own |= {repr(x) for m in typing.get_args(top)[1:] if isinstance(m, FieldInfo) for x in m.metadata}
        metadata = [m for m in field.metadata if repr(m) not in own and not hasattr(m, "pattern")]
        kind = typing.get_args(top)[0]
        shown = type_text(top, links, aliases)
    elif typing.get_origin(top) is Annotated:
        kind, *inline = typing.get_args(top)
        metadata = list(field.metadata) + ([] if moved else inline)
        shown = type_text(kind, links, aliases)
    else:
        metadata = list(field.metadata)
        kind = field.annotation
        shown = type_text(field.annotation, links, aliases)
    description = (field.description or "").strip()
    extra = constraints(metadata, kind)
    if extra:
        description = (description + " " if description else "") + f"*{', '.join(extra)}*"
    cells = [_code(name), shown, default_text(field), description]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def model_section(
    model: type[BaseModel], links: dict[type[BaseModel], str], aliases: list[tuple[str, Any]]
) -> str:
    lines = [f"### {model.__name__} {{#{links[model]}}}", ""]
    doc = model.__dict__.get("__doc__")
    if doc:
        lines += [inspect.cleandoc(doc), ""]
    hints = _hints(model)
    lines += ["| Field | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        lines.append(field_row(name, field, hints.get(name, field.annotation), links, aliases))
    return "\n".join(lines) + "\n"


def kind_reference(kind: str) -> str:
    """The generated reference of one spec kind: its table and one per nested model."""
    root = ALL_KINDS[kind]
    models = model_tree(root)
    links = anchors(models)
    aliases = value_types()
    return "\n".join(model_section(m, links, aliases) for m in models)


def value_types_reference() -> str:
    lines = ["| Type | Base type | Constraints | Description |", "| --- | --- | --- | --- |"]
    for name, alias in used_value_types():
        base, *meta = typing.get_args(alias)
        descriptions = [m.description for m in meta if isinstance(m, FieldInfo) and m.description]
        extra = constraints(meta, base)
        for item in meta:  # WithJsonSchema: what editors are told
            schema = getattr(item, "json_schema", None)
            if isinstance(schema, dict) and isinstance(schema.get("pattern"), str):
                extra.append(f"matches {_code(schema['pattern'])}")
        cells = [_code(name), type_text(base, {}, []), ", ".join(extra), " ".join(descriptions)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_markers(markdown: str, where: str = "") -> tuple[str, set[str]]:
    """The page with every marker replaced; and the kinds it rendered."""
    rendered: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == VALUE_TYPES:
            return value_types_reference()
        if name not in ALL_KINDS:
            known = ", ".join([*ALL_KINDS, VALUE_TYPES])
            raise ValueError(f"{where}: spec-reference marker names '{name}', which is none of {known}")
        rendered.add(name)
        return kind_reference(name)

    return MARKER.sub(replace, markdown), rendered


# -- MkDocs hook ----------------------------------------------------------------------------------

_rendered: set[str] = set()


def on_pre_build(config: Any) -> None:
    _rendered.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError

    try:
        text, kinds_done = render_markers(markdown, page.file.src_uri)
    except ValueError as exc:
        raise PluginError(str(exc)) from None
    _rendered.update(kinds_done)
    return text


def on_env(env: Any, config: Any, files: Any) -> Any:
    from mkdocs.exceptions import PluginError

    missing = [kind for kind in ALL_KINDS if kind not in _rendered]
    if missing:
        raise PluginError(
            f"no docs page has the reference of {', '.join(missing)}: add a page under docs/reference/ "
            "with `<!-- spec-reference: KIND -->` and list it in mkdocs.yml's nav"
        )
    return env
