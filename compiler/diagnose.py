"""Turn pydantic validation errors into file:line:col diagnostics with "did you mean" hints."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from typing_extensions import is_typeddict

from llmops.compiler.foreign_names import FOREIGN_NAMES
from llmops.compiler.read_yaml import SourceDoc
from llmops.errors import Diagnostic


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """A "did you mean" hint, or "" when nothing is close enough to be useful."""
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def foreign_hint(word: str, choices: typing.Iterable[str], model: type[BaseModel], data: Any) -> str:
    """A hint for a field name from another tool (`learning_rate` -> `lr`), from FOREIGN_NAMES.

    A plain target must be a field beside the unknown one; a dotted one a field of the spec
    (`method.r` from `training.lora_r`), checked against the model so no hint names a field
    this kind does not have."""
    here = set(choices)
    for target in FOREIGN_NAMES.get(word.lower(), ()):
        *parent, name = target.split(".")
        if (not parent and name in here) or (parent and name in _fields_at(model, tuple(parent), data)):
            return f"did you mean '{target}'? that is llmops' name for `{word}`"
    return ""


def field_label(path: typing.Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def from_validation_error(doc: SourceDoc, model: type[BaseModel], error: ValidationError) -> list[Diagnostic]:
    found = []
    for err in error.errors(include_url=False):
        path = _data_path(doc.data, err["loc"])
        kind = err["type"]
        message = err["msg"].removeprefix("Value error, ")
        hint = ""
        if kind == "extra_forbidden":
            line, col = doc.position(path, key=True)
            message = f"unknown field '{path[-1]}'"
            choices = _fields_at(model, path[:-1], doc.data)
            hint = foreign_hint(str(path[-1]), choices, model, doc.data) or suggest(str(path[-1]), choices)
        elif kind == "missing":
            line, col = doc.position(path[:-1])
            message = "field required"
        elif kind in ("union_tag_not_found", "union_tag_invalid"):
            # A discriminated union (rule `type`, cleaning `step`): report at its tag, as a
            # Literal field would, not at the whole mapping.
            path, message, hint = _union_tag(path, err)
            line, col = doc.position(path) if kind == "union_tag_invalid" else doc.position(path[:-1])
        else:
            line, col = doc.position(path)
            if kind == "string_pattern_mismatch":
                message = _PATTERN_MEANING.get(str((err.get("ctx") or {}).get("pattern")), message)
            if kind in ("literal_error", "union_tag_invalid") and isinstance(err.get("input"), str):
                choices = _literal_choices(err)
                hint = suggest(err["input"], choices)
        found.append(Diagnostic(doc.path, line, col, field_label(path), message, hint))
    return found


_PATTERN_MEANING = {
    r"^[a-z][a-z0-9-]{0,62}$": "a name is 1-63 lowercase letters, digits and '-', starting with a letter",
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$": (
        "a column or variable is letters, digits and '_', not starting with a digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$": "a runner label is letters, digits, '_', '.', ':' and '-'",
}


def _union_tag(path: tuple[str | int, ...], err: Any) -> tuple[tuple[str | int, ...], str, str]:
    ctx = err.get("ctx") or {}
    key = str(ctx.get("discriminator", "")).strip("'")
    if err["type"] == "union_tag_not_found":
        return (*path, key), "field required", ""
    choices = _literal_choices(err)
    quoted = [f"'{c}'" for c in choices]
    expected = ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
    return (*path, key), f"Input should be {expected}", suggest(str(ctx.get("tag", "")), choices)


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """pydantic's loc with the tags of discriminated unions removed, so it walks the YAML."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part not in node and part in _tags(node):
            continue  # the member of a discriminated union pydantic chose: not a YAML key
        if isinstance(node, dict) and isinstance(part, str) and (part in node or last):
            path.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif last and not isinstance(node, (dict, list)):
            break
        elif last:
            path.append(part)
    return tuple(path)


def _tags(node: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(node.get(key) for key in _DISCRIMINATORS if isinstance(node.get(key), str))


_DISCRIMINATORS = ("kind", "step", "type")


def _literal_choices(err: Any) -> list[str]:
    ctx = err.get("ctx") or {}
    raw = str(ctx.get("expected") or ctx.get("expected_tags") or "")
    return [c.strip().strip("'") for c in raw.replace(" or ", ",").split(",") if c.strip()]


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...], data: Any) -> list[str]:
    """The field names that are allowed at `path`, found by walking the model's annotations."""
    annotation: Any = model
    node = data
    for part in path:
        annotation = _concrete(annotation, node)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            annotation = info.annotation if info else None
            node = node.get(part) if isinstance(node, dict) else None
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
            node = node.get(part) if isinstance(node, dict) else None
        else:
            return []
    annotation = _concrete(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    if is_typeddict(annotation):
        return list(annotation.__annotations__)
    return []


def _concrete(annotation: Any, node: Any) -> Any:
    """Unwrap Annotated and Optional; for a union of models pick the one the data names."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if isinstance(node, dict):
            for m in models:
                for key in ("kind", "step", "type"):
                    info = m.model_fields.get(key)
                    if info and node.get(key) in typing.get_args(info.annotation):
                        return m
        if len(models) >= 1 and (isinstance(node, dict) or len(members) == 1):
            return models[0]
        lists = [m for m in members if typing.get_origin(m) is list]
        if lists and isinstance(node, list):
            return lists[0]
        return members[0] if members else annotation
    return annotation
