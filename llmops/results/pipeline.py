"""The pipeline as DVC runs it, read from a `dvc.yaml` text: stages, what each reads, what each
writes, and which stage produces which path.

Results move between CI jobs (`llmops results`), enforcement checks their freshness and
provenance, and deploy verifies weights: all three need the same facts about the pipeline, and
they need them at a commit (a git blob) as often as on disk, so this module takes text and is
pure. Only the shape DVC itself accepts is read; anything else is a `ValueError` naming what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCK_FILE = "dvc.lock"
PIPELINE_FILE = "dvc.yaml"
_OUT_SECTIONS = ("outs", "metrics", "plots")


@dataclass(frozen=True)
class Out:
    """One output of a stage: `cached` outputs live in the DVC cache and remote; the others
    (metrics, plots, reports) are small files git tracks."""

    path: str
    cached: bool


@dataclass(frozen=True)
class PipelineStage:
    name: str
    cmd: str
    deps: tuple[str, ...]
    params: tuple[str, ...]  # params files, each tracked whole (`path: null`)
    outs: tuple[Out, ...]

    def out_paths(self) -> tuple[str, ...]:
        return tuple(o.path for o in self.outs)


def read_pipeline(text: str) -> list[PipelineStage]:
    """The stages of a dvc.yaml, in file order."""
    doc = _load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("stages"), dict):
        raise ValueError("dvc.yaml has no `stages:` mapping")
    stages: list[PipelineStage] = []
    for name, body in doc["stages"].items():
        if isinstance(body, dict) and "matrix" in body:
            stages += [
                _stage(f"{name}@{key}", _substitute(body, key, item)) for key, item in _matrix(name, body)
            ]
        else:
            stages.append(_stage(str(name), body))
    return stages


def _matrix(name: Any, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key, item) of each stage DVC generates from a `matrix:` (dvc/parsing: the values of a
    combination joined by '-', in the order the matrix lists its keys)."""
    import itertools

    matrix = body["matrix"]
    if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
        raise ValueError(f"dvc.yaml stage {name}: `matrix` must map names to lists")
    keys = list(matrix)
    return [
        ("-".join(_to_str(v) for v in combo), dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*matrix.values())
    ]


def _to_str(value: Any) -> str:
    """A matrix value as DVC writes it into a stage name (`dvc.parsing.interpolate.to_str`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute(body: dict[str, Any], key: str, item: dict[str, Any]) -> dict[str, Any]:
    """The stage body with `${key}` and `${item.<name>}` filled in every string."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace("${key}", key)
            for field, v in item.items():
                value = value.replace("${item." + str(field) + "}", _to_str(v))
            return value
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return value

    return {k: fill(v) for k, v in body.items() if k != "matrix"}


def read_lock(text: str | None) -> dict[str, dict[str, Any]]:
    """stage name -> its dvc.lock entry ({} for no lock file)."""
    if text is None:
        return {}
    doc = _load(text)
    if doc is None:
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("stages", {}), dict):
        raise ValueError("dvc.lock has no `stages:` mapping")
    return {str(k): v for k, v in (doc.get("stages") or {}).items() if isinstance(v, dict)}


def producers(stages: list[PipelineStage]) -> dict[str, str]:
    """output path -> the stage that writes it."""
    return {out.path: stage.name for stage in stages for out in stage.outs}


def upstream(stages: list[PipelineStage], name: str) -> list[str]:
    """Every stage `name` depends on, directly or not, in dvc.yaml order (its own name excluded)."""
    by_name = {s.name: s for s in stages}
    made_by = producers(stages)
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in by_name[todo.pop()].deps:
            producer = producer_of(dep, made_by)
            if producer is not None and producer not in seen:
                seen.add(producer)
                todo.append(producer)
    seen.discard(name)
    return [s.name for s in stages if s.name in seen]


def producer_of(path: str, made_by: dict[str, str]) -> str | None:
    """The stage whose output is `path` or contains it (a file inside an output folder)."""
    if path in made_by:
        return made_by[path]
    for out, stage in made_by.items():
        if path.startswith(out.rstrip("/") + "/"):
            return stage
    return None


def result_paths(stages: list[PipelineStage]) -> list[str]:
    """What a pull request carries of CI's results: dvc.lock and every output git tracks."""
    return [LOCK_FILE] + [o.path for s in stages for o in s.outs if not o.cached]


def _stage(name: str, body: Any) -> PipelineStage:
    if not isinstance(body, dict) or not isinstance(body.get("cmd"), str):
        raise ValueError(f"dvc.yaml stage {name}: needs a `cmd` string")
    outs: list[Out] = []
    for section in _OUT_SECTIONS:
        for path, flags in _entries(name, section, body.get(section)):
            cached = bool((flags or {}).get("cache", True)) if isinstance(flags, dict) else True
            outs.append(Out(path, cached))
    params = [path for path, _ in _entries(name, "params", body.get("params"))]
    deps = [path for path, _ in _entries(name, "deps", body.get("deps"))]
    return PipelineStage(name, body["cmd"], tuple(deps), tuple(params), tuple(outs))


def _entries(stage: str, section: str, items: Any) -> list[tuple[str, Any]]:
    """A dvc.yaml list of `path` or `{path: flags}` items as (path, flags)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"dvc.yaml stage {stage}: `{section}` must be a list")
    found: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            found.append((item, None))
        elif isinstance(item, dict) and len(item) == 1:
            ((path, flags),) = item.items()
            found.append((str(path), flags))
        else:
            raise ValueError(f"dvc.yaml stage {stage}: an entry of `{section}` is not a path")
    return found


def _load(text: str) -> Any:
    """Safe YAML, read with a budget (the text may come from any commit, so it may be a YAML
    bomb); a syntax error or a bomb is a ValueError like every other shape problem."""
    from llmops import yamlsafe

    try:
        return yamlsafe.load(text, "<dvc file>")
    except yamlsafe.YamlError as exc:
        raise ValueError(f"not valid YAML: {exc.message} (line {exc.line})") from exc
