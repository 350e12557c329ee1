"""Is a commit's `dvc.lock` fresh: does every stage's lock entry match the stage as that commit
defines it (cmd, params files) and the inputs that commit holds? A stale stage is named with
the field that changed, so `llmops enforce` and `llmops audit` can refuse or record it.

Why not `dvc status`: enforcement judges a commit, not a checkout. DVC needs a workspace with
the cached outputs pulled; this reads the commit's own files (a gitpython tree, or a folder on
disk through the same `CommitFiles` protocol) and recomputes DVC 3's hashes (`dvchash`).

What is checked, stage by stage in dvc.yaml order:
- the stage has a lock entry, with the same `cmd`;
- each params file (tracked whole) parses to what the entry's `params` records; a difference
  names the first few dotted key paths with old -> new values (attack 1: `training.lr` changed
  in the specs, compiled into the stage config, never re-run);
- each dep that another stage writes (exactly an output path) carries, in this entry, the md5
  the producing stage's entry records for that output: a stage re-run upstream without re-running
  this one is caught, and so is an output hash edited in one entry only;
- each other dep is a git-tracked input: its md5 in the entry equals its DVC hash at the commit
  (file md5, or a folder's `.dir` listing hash: a changed, added or removed file shows); a path
  tracked by a `<path>.dvc` file is compared with the md5 that file records; a missing one is stale;
- each uncached output (metrics, plots, reports: git holds them) is at the commit with the md5
  the entry records, so a hand-edited metrics file is caught when nobody re-hashed it;
- the entry lists exactly the stage's deps, params files and outputs.

What cannot be detected from the commit alone, and why (`Freshness.unchecked` lists the first):
- A dep inside a cached output folder of another stage (or a dep folder holding cached outputs):
  the bytes live in the DVC cache and remote, and the lock keeps only the folder's `.dir` hash;
  without that listing the file's hash cannot be tied to it. Only exact-path deps on outputs are
  checked; a dep inside a folder that a `.dvc` file tracks is unchecked for the same reason.
- Cached outputs themselves (models, data sets): their hash in the lock is whatever the lock
  says. Whether those bytes are what the cmd makes from those inputs can only be known by
  running it; deploy verifies the weights it serves against this hash.
- Re-hashed results (attack 2): a metrics file edited together with its md5 in the producing
  stage's entry is consistent with everything in the commit. Nothing in a lock entry binds an
  output to its inputs (DVC's run-cache does, but it lives in the cache, not in git). If another
  stage reads that file, its entry still records the old md5 and is named stale here; an editor
  who also rewrites every consumer's entry leaves nothing to see. Refusing that is provenance's
  job: the results must be the ones CI computed and recorded on the pull request's head.
- That the stage configs and dvc.yaml are what compiling the commit's specs gives: that is
  `llmops compile --check` at the same commit; together with this, the lock matches the specs.

Hashing follows DVC 3 (`hash: md5`) without `.dvcignore` rules; dvc.yaml is read as llmops
compiles it. So an entry written by DVC 2 (no `hash: md5`; text hashed with CRLF as LF), a git
symbolic link (hashed as its link text, where DVC follows it), `.dvcignore` patterns, `wdir`,
templating (`vars`, `${...}`) or params listed by key (`- lr`, `params.yaml: [lr]`) can read as
stale: the safe side, never a stale lock read as fresh.

Cost: each path is hashed at most once per `CommitFiles` (and each blob read once), only the
paths a check needs are hashed: deps other stages write and cached outputs are never read.
"""

from __future__ import annotations

import json
import posixpath
import tomllib
from dataclasses import dataclass, field
from typing import Any

from llmops.results.dvchash import DIR_SUFFIX
from llmops.results.files import CommitFiles, _norm
from llmops.results.pipeline import (
    LOCK_FILE,
    PIPELINE_FILE,
    Out,
    PipelineStage,
    producer_of,
    read_lock,
    read_pipeline,
)

_PARAMS_SHOWN = 3  # differing key paths named per params file
_VALUE_WIDTH = 40


@dataclass(frozen=True)
class Staleness:
    """One way a stage's lock entry does not match the commit. `stage` is `dvc.lock` for the
    lock file as a whole; `field` is `lock`, `lock entry`, `cmd`, `params`, `deps <path>` or
    `outs <path>`."""

    stage: str
    field: str
    detail: str


@dataclass(frozen=True)
class Unchecked:
    """A dep whose hash the commit cannot confirm (see the module docstring)."""

    stage: str
    path: str
    reason: str


@dataclass(frozen=True)
class Freshness:
    stale: list[Staleness] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        return not self.stale


def check_freshness(files: CommitFiles) -> list[Staleness]:
    """Every way the lock in `files` is stale, stage by stage in dvc.yaml order; [] when fresh.
    A missing or unparsable dvc.lock is one record; a missing or unparsable dvc.yaml is a
    ValueError with the reason (there is nothing to judge: the caller refuses)."""
    return freshness(files).stale


def freshness(files: CommitFiles) -> Freshness:
    """`check_freshness`, with the deps the commit cannot confirm (`Freshness.unchecked`)."""
    stages = _pipeline(files)
    raw = files.read(LOCK_FILE)
    try:
        lock_text = None if raw is None else raw.decode("utf-8")
    except UnicodeDecodeError:
        return Freshness([Staleness(LOCK_FILE, "lock", f"is not UTF-8 text {files.where}")])
    return check_lock(stages, lock_text, files)


def check_lock(stages: list[PipelineStage], lock_text: str | None, files: CommitFiles) -> Freshness:
    """The lock text judged against `stages` and the inputs in `files`."""
    from ruamel.yaml import YAMLError

    if lock_text is None:
        if not stages:
            return Freshness()
        return Freshness([Staleness(LOCK_FILE, "lock", f"missing {files.where}: run `dvc repro`")])
    try:
        lock = read_lock(lock_text)
    except (ValueError, YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Freshness([Staleness(LOCK_FILE, "lock", f"does not parse: {reason}")])
    checker = _Checker(stages, lock, files)
    for stage in stages:
        checker.stage(stage)
    return Freshness(checker.stale, checker.unchecked)


def summarize(records: list[Staleness]) -> list[str]:
    """One line per stale stage, in the records' order:
    `tune-x: params .llmops/stages/tune-x.json spec.training.lr 0.0002 → 0.001; deps data/a.csv ...`."""
    by_stage: dict[str, list[str]] = {}
    for record in records:
        by_stage.setdefault(record.stage, []).append(f"{record.field} {record.detail}")
    return [f"{stage}: {'; '.join(parts)}" for stage, parts in by_stage.items()]


def params_diff(old: Any, new: Any, limit: int = _PARAMS_SHOWN) -> list[str]:
    """`key.path old → new` for the first `limit` differing leaves (list items by index), then
    `and N more`. Values compare with `==`, as DVC compares params (so 8 equals 8.0)."""
    found = list(_differences(old, new, ()))
    shown = [
        f"{'.'.join(path) or '(whole file)'} {_render(was)} → {_render(now)}"
        for path, was, now in found[:limit]
    ]
    if len(found) > limit:
        shown.append(f"and {len(found) - limit} more")
    return shown


class _Checker:
    """The per-stage checks, sharing the lock, the producers' map and the files' hash memo."""

    def __init__(
        self, stages: list[PipelineStage], lock: dict[str, dict[str, Any]], files: CommitFiles
    ) -> None:
        self.lock = lock
        self.files = files
        self.made_by = {_norm(o.path): s.name for s in stages for o in s.outs}
        self.out_of = {_norm(o.path): o for s in stages for o in s.outs}
        self.cached_outs = [p for p, o in self.out_of.items() if o.cached]
        self.stale: list[Staleness] = []
        self.unchecked: list[Unchecked] = []

    def stage(self, stage: PipelineStage) -> None:
        entry = self.lock.get(stage.name)
        if entry is None:
            self._stale(stage, "lock entry", "missing: the stage has not run as it is defined now")
            return
        if entry.get("cmd") != stage.cmd:
            self._stale(stage, "cmd", _cmd_change(entry.get("cmd"), stage.cmd))
        self._params(stage, entry)
        deps = _by_path(entry.get("deps"))
        for dep in stage.deps:
            self._dep(stage, dep, deps.pop(_norm(dep), None))
        for extra in deps:
            self._stale(stage, f"deps {extra}", "in dvc.lock but not a dep in dvc.yaml")
        outs = _by_path(entry.get("outs"))
        for out in stage.outs:
            self._out(stage, out, outs.pop(_norm(out.path), None))
        for extra in outs:
            self._stale(stage, f"outs {extra}", "in dvc.lock but not an output in dvc.yaml")

    def _params(self, stage: PipelineStage, entry: dict[str, Any]) -> None:
        recorded_all = entry.get("params") or {}
        if not isinstance(recorded_all, dict):
            self._stale(stage, "params", "the lock entry's `params` is not a mapping")
            return
        recorded_all = {_norm(str(k)): v for k, v in recorded_all.items()}
        for path in stage.params:
            if _norm(path) not in recorded_all:
                self._stale(stage, "params", f"{path} not in dvc.lock")
                continue
            recorded = recorded_all.pop(_norm(path))
            raw = self.files.read(path)
            if raw is None:
                self._stale(stage, "params", f"{path} missing {self.files.where}")
                continue
            try:
                current = _parse_params(path, raw)
            except ValueError as exc:
                self._stale(stage, "params", f"{path} {exc}")
                continue
            if current != recorded:
                self._stale(stage, "params", f"{path} {', '.join(params_diff(recorded, current))}")
        for extra in recorded_all:
            self._stale(stage, "params", f"{extra} in dvc.lock but not a params file in dvc.yaml")

    def _recorded_md5(self, stage: PipelineStage, name: str, record: dict[str, Any] | None) -> str | None:
        """The md5 a lock entry's dep or out records; None (and the stage stale) without one."""
        if record is None:
            self._stale(stage, name, "not in dvc.lock")
            return None
        recorded = record.get("md5")
        if not isinstance(recorded, str):
            self._stale(stage, name, "has no md5 in dvc.lock")
            return None
        return recorded

    def _dep(self, stage: PipelineStage, dep: str, record: dict[str, Any] | None) -> None:
        name = f"deps {dep}"
        recorded = self._recorded_md5(stage, name, record)
        if recorded is None:
            return
        path = _norm(dep)
        producer = producer_of(path, self.made_by)
        if producer is not None and path in self.made_by:
            self._produced(stage, name, path, producer, recorded)
            return
        if producer is not None and self.out_of[self._containing_out(path)].cached:
            self._unchecked(stage, dep, f"inside an output of {producer} that only the DVC cache holds")
            return
        if any(out.startswith(path.rstrip("/") + "/") for out in self.cached_outs):
            self._unchecked(stage, dep, "a folder holding outputs that only the DVC cache holds")
            return
        actual = self.files.dvc_md5(path)
        if actual is None:
            tracked = _dvc_tracked(self.files, path)
            if tracked is _INSIDE_TRACKED:
                self._unchecked(stage, dep, "inside a folder a .dvc file tracks")
                return
            actual = tracked if isinstance(tracked, str) else None
        if actual is None:
            self._stale(stage, name, f"missing {self.files.where}")
        elif actual != recorded:
            self._stale(
                stage, name, f"changed: {_short(recorded)} in dvc.lock, {_short(actual)} {self.files.where}"
            )

    def _produced(self, stage: PipelineStage, name: str, path: str, producer: str, recorded: str) -> None:
        """A dep another stage writes: this entry must record what the producer's entry records."""
        entry = self.lock.get(producer)
        written = _by_path(entry.get("outs")).get(path, {}).get("md5") if entry else None
        if written is None:
            self._stale(stage, name, f"written by {producer}, whose dvc.lock entry does not record it")
        elif written != recorded:
            self._stale(
                stage,
                name,
                f"{_short(recorded)} in this entry, but {producer} recorded {_short(written)}: "
                f"{stage.name} has not run on {producer}'s current output",
            )

    def _out(self, stage: PipelineStage, out: Out, record: dict[str, Any] | None) -> None:
        name = f"outs {out.path}"
        recorded = self._recorded_md5(stage, name, record)
        if recorded is None:
            return
        if out.cached:
            return  # the bytes are in the DVC cache and remote, not in git
        actual = self.files.dvc_md5(_norm(out.path))
        if actual is None:
            self._stale(stage, name, f"missing {self.files.where}")
        elif actual != recorded:
            self._stale(
                stage,
                name,
                f"{_short(actual)} {self.files.where} is not what the stage wrote "
                f"({_short(recorded)} in dvc.lock)",
            )

    def _containing_out(self, path: str) -> str:
        return next(out for out in self.out_of if path.startswith(out.rstrip("/") + "/"))

    def _stale(self, stage: PipelineStage, name: str, detail: str) -> None:
        self.stale.append(Staleness(stage.name, name, detail))

    def _unchecked(self, stage: PipelineStage, path: str, reason: str) -> None:
        self.unchecked.append(Unchecked(stage.name, path, reason))


def _pipeline(files: CommitFiles) -> list[PipelineStage]:
    from ruamel.yaml import YAMLError

    raw = files.read(PIPELINE_FILE)
    if raw is None:
        raise ValueError(f"{PIPELINE_FILE} missing {files.where}")
    try:
        return read_pipeline(raw.decode("utf-8"))
    except (ValueError, YAMLError) as exc:  # UnicodeDecodeError is a ValueError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{PIPELINE_FILE} {files.where} does not parse: {reason}") from exc


_INSIDE_TRACKED = object()


def _dvc_tracked(files: CommitFiles, path: str) -> str | object | None:
    """The md5 that `<path>.dvc` records (`dvc add`); `_INSIDE_TRACKED` when a `.dvc` file
    tracks a folder holding `path`; None when neither is at the commit."""
    target = path
    while target not in ("", "."):
        raw = files.read(target + ".dvc")
        if raw is not None:
            md5 = _dvc_file_md5(raw, target)
            if target == path:
                return md5
            return _INSIDE_TRACKED if md5 is not None else None
        target = posixpath.dirname(target)
    return None


def _dvc_file_md5(raw: bytes, target: str) -> str | None:
    from llmops.yamlsafe import load

    try:
        doc = load(raw.decode("utf-8"), target + ".dvc")
    except ValueError:  # YamlError (a bomb too), UnicodeDecodeError
        return None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    folder = posixpath.dirname(target)
    for out in outs if isinstance(outs, list) else []:
        if isinstance(out, dict) and _norm(posixpath.join(folder, str(out.get("path")))) == target:
            md5 = out.get("md5")
            return md5 if isinstance(md5, str) else None
    return None


def _parse_params(path: str, raw: bytes) -> Any:
    """A params file's content as DVC reads it (JSON, YAML or TOML, by extension)."""
    suffix = posixpath.splitext(path)[1].lower()
    try:
        text = raw.decode("utf-8")
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            from llmops.yamlsafe import load

            return load(text, path)  # YamlError is a ValueError
        if suffix == ".toml":
            return tomllib.loads(text)
    except ValueError as exc:  # JSONDecodeError, TOMLDecodeError, UnicodeDecodeError
        raise ValueError(f"does not parse: {exc}") from exc
    raise ValueError(f"is not a JSON, YAML or TOML file this check can read ({suffix or 'no suffix'})")


_ABSENT = object()


def _differences(old: Any, new: Any, path: tuple[str, ...]):
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            yield from _differences(old.get(key, _ABSENT), new.get(key, _ABSENT), (*path, str(key)))
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            was = old[index] if index < len(old) else _ABSENT
            now = new[index] if index < len(new) else _ABSENT
            yield from _differences(was, now, (*path, str(index)))
    else:
        yield path, old, new


def _render(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except ValueError:
        text = repr(value)
    return _clip(text, quote=False)


def _clip(value: Any, quote: bool = True) -> str:
    text = repr(value) if quote else str(value)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


def _cmd_change(old: Any, new: str) -> str:
    """Where two commands part, so a long generated cmd shows the part that changed."""
    if not isinstance(old, str):
        return f"{_clip(old)} in dvc.lock, `{_clip(new, quote=False)}` in dvc.yaml"
    same = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new))
    )
    start = max(0, same - 10)
    lead = "…" if start else ""
    was, now = (_clip(lead + text[start:], quote=False) for text in (old, new))
    return f"`{was}` in dvc.lock, `{now}` in dvc.yaml"


def _short(md5: str) -> str:
    """Enough of a hash to tell two apart in a message."""
    return md5[:8] + DIR_SUFFIX if md5.endswith(DIR_SUFFIX) else md5[:8]


def _by_path(items: Any) -> dict[str, dict[str, Any]]:
    """A lock entry's `deps` or `outs` list, by normalised path."""
    if not isinstance(items, list):
        return {}
    return {_norm(str(i["path"])): i for i in items if isinstance(i, dict) and "path" in i}
