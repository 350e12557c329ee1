"""`llmops results pull | push | collect`: hand a stage's results from the job that computed them
to every job that needs them, through the DVC remote, without running anything again.

* pull STAGE: find the records of every stage above STAGE (their keys chain from the checked-out
  files), write their dvc.lock entries, and fetch only the outputs STAGE reads. When STAGE itself
  already has a record for these inputs (a contributor pushed it, or an earlier run did), restore
  it too, so the `dvc repro --single-item` that follows has nothing to do.
* push STAGE: after the stage ran, check its dvc.lock entry agrees with the files it ran on,
  push its cached outputs, then write its record (last, so a record never names missing data).
* collect: rebuild dvc.lock and every git-tracked output of the whole pipeline from the records,
  which is what the pull request must carry.

A job never re-runs an upstream stage: a missing upstream record is an error naming the stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.atomic import write_many
from llmops.errors import CheckFailed, UsageError
from llmops.results.chain import ChainError, StageInputs, lock_disagreements, out_md5s, stage_inputs
from llmops.results.dvchash import md5_on_disk
from llmops.results.pipeline import (
    LOCK_FILE,
    PIPELINE_FILE,
    PipelineStage,
    read_lock,
    read_pipeline,
    upstream,
)
from llmops.results.store import Record, RecordError, RecordStore

LOCK_SCHEMA = "2.0"


@dataclass
class Resolution:
    """Records found for some stages; `missing` holds why each other stage has none."""

    records: dict[str, Record] = field(default_factory=dict)
    inputs: dict[str, StageInputs] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


class Workspace:
    """A checked-out project with its dvc.yaml, its DVC repository and the remote's records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        text = _read(root / PIPELINE_FILE)
        if text is None:
            raise UsageError(f"no {PIPELINE_FILE} in {root}: run `llmops compile` first")
        try:
            self.stages = read_pipeline(text)
        except ValueError as exc:
            raise UsageError(f"{PIPELINE_FILE}: {exc}") from exc
        self.by_name = {s.name: s for s in self.stages}
        self._md5: dict[str, str | None] = {}
        self._dvc = None
        self._store: RecordStore | None = None

    # -- collaborators, opened when first needed -----------------------------------------------

    @property
    def dvc(self):
        if self._dvc is None:
            from dvc.repo import Repo

            self._dvc = Repo(str(self.root))
        return self._dvc

    @property
    def store(self) -> RecordStore:
        if self._store is None:
            self._store = RecordStore(self.dvc)
        return self._store

    def stage(self, name: str) -> PipelineStage:
        if name not in self.by_name:
            known = ", ".join(self.by_name) or "none"
            raise UsageError(f"no stage '{name}' in {PIPELINE_FILE} (stages: {known})")
        return self.by_name[name]

    # -- the chain of keys ---------------------------------------------------------------------

    def inputs(self, stage: PipelineStage, found: Resolution) -> StageInputs:
        def produced(producer: str, path: str) -> str | None:
            record = found.records.get(producer)
            return out_md5s(record.lock).get(path) if record else None

        return stage_inputs(stage, self.stages, self._file_bytes, self._tracked_md5, produced)

    def resolve(self, names: list[str]) -> Resolution:
        """Records for `names` (and what their keys need), in dvc.yaml order."""
        wanted = set(names)
        for name in names:
            wanted |= set(upstream(self.stages, name))
        found = Resolution()
        for stage in self.stages:
            if stage.name not in wanted:
                continue
            try:
                inputs = self.inputs(stage, found)
            except ChainError as exc:
                found.missing[stage.name] = str(exc)
                continue
            found.inputs[stage.name] = inputs
            data = self.store.read(inputs.key())
            if data is None:
                found.missing[stage.name] = f"{stage.name}: no results in the remote for these inputs"
                continue
            try:
                found.records[stage.name] = Record.from_bytes(data, inputs, self._uncached(stage))
            except RecordError as exc:
                found.missing[stage.name] = str(exc)
        return found

    # -- the three operations ------------------------------------------------------------------

    def pull(self, name: str) -> bool:
        """Restore what `name` needs; True when `name`'s own results were found and restored."""
        stage = self.stage(name)
        above = upstream(self.stages, name)
        found = self.resolve([name])
        absent = [found.missing[u] for u in above if u in found.missing]
        if absent:
            raise CheckFailed(
                f"{name} cannot start: the stages above it have no results in the remote "
                f"{self.store.where!r} for these inputs (their jobs must run and push first; a job "
                "never recomputes an upstream stage):\n  - " + "\n  - ".join(absent)
            )
        restore = [u for u in above if _reads_from(stage, self.by_name[u])]
        own = found.records.get(name)
        if own is not None:
            restore.append(name)
        self._write_entries([found.records[u] for u in [*above, *([name] if own else [])]], restore)
        cached = [d for d in stage.deps if self._cached_output(d)]
        if own is not None:
            cached += [o.path for o in stage.outs if o.cached]
        if cached:
            self.dvc.pull(targets=cached)
        return own is not None

    def push(self, name: str) -> str:
        """Record `name`'s results (after it ran); returns the key it is stored under."""
        stage = self.stage(name)
        found = self.resolve(upstream(self.stages, name))
        if any(u in found.missing for u in upstream(self.stages, name)):
            raise CheckFailed(f"{name}: the stages above it have no results in the remote: push them first")
        inputs = self.inputs(stage, found)
        entry = read_lock(_read(self.root / LOCK_FILE)).get(name)
        if entry is None:
            raise CheckFailed(f"{name} has no entry in {LOCK_FILE}: run `dvc repro {name}` first")
        problems = lock_disagreements(inputs, entry, self._params_content(stage))
        problems += self._outs_disagreements(stage, entry)
        if problems:
            raise CheckFailed(
                f"{name}: its {LOCK_FILE} entry is not the result of the files here; run "
                f"`dvc repro {name}` first:\n  - " + "\n  - ".join(problems)
            )
        key = inputs.key()
        if self.store.read(key) is not None:
            return key  # the first run recorded for these inputs is the one that counts
        files = {p: b for out in self._uncached(stage) for p, b in self._files_of(out).items()}
        record = Record(stage=name, key=key, lock=entry, files=files)
        record.check_files(self._uncached(stage))
        cached = [o.path for o in stage.outs if o.cached]
        if cached:
            self.dvc.push(targets=cached)
        self.store.write(record)
        return key

    def collect(self) -> Resolution:
        """dvc.lock and every git-tracked output rebuilt from the records of all stages."""
        found = self.resolve([s.name for s in self.stages])
        records = [found.records[s.name] for s in self.stages if s.name in found.records]
        self._write_entries(records, [r.stage for r in records], rebuild=True)
        return found

    # -- files -----------------------------------------------------------------------------------

    def _write_entries(self, records: list[Record], with_files: list[str], rebuild: bool = False) -> None:
        """Write the records' dvc.lock entries (in dvc.yaml order) and the git-tracked outputs of
        the stages in `with_files`, all at once."""
        lock = {} if rebuild else read_lock(_read(self.root / LOCK_FILE))
        lock.update({r.stage: r.lock for r in records})
        order = [s.name for s in self.stages if s.name in lock] + [n for n in lock if n not in self.by_name]
        texts = {self.root / LOCK_FILE: _lock_text({n: lock[n] for n in order}).encode("utf-8")}
        restored = [r for r in records if r.stage in with_files]
        for record in restored:
            texts.update({self.root / path: data for path, data in record.files.items()})
        write_many(texts)
        for record in restored:  # a restored output folder holds exactly the recorded files
            for out in self._uncached(self.by_name[record.stage]):
                folder = self.root / out
                if out not in record.files and folder.is_dir():
                    for path in folder.rglob("*"):
                        if path.is_file() and self.root / path.relative_to(self.root) not in texts:
                            path.unlink()

    def _files_of(self, out: str) -> dict[str, bytes]:
        path = self.root / out
        if path.is_file():
            return {out: path.read_bytes()}
        if path.is_dir():
            return {
                p.relative_to(self.root).as_posix(): p.read_bytes()
                for p in sorted(path.rglob("*"))
                if p.is_file()
            }
        raise CheckFailed(f"output {out} is missing: run `dvc repro` first")

    def _outs_disagreements(self, stage: PipelineStage, entry: dict[str, Any]) -> list[str]:
        locked = out_md5s(entry)
        return [
            f"output {o.path} on disk is not what {LOCK_FILE} records"
            for o in stage.outs
            if locked.get(o.path) is None or self._tracked_md5(o.path) != locked[o.path]
        ]

    def _params_content(self, stage: PipelineStage) -> dict[str, Any]:
        found = {}
        for path in stage.params:
            data = self._file_bytes(path)
            try:
                found[path] = json.loads(data) if data is not None else None
            except ValueError as exc:
                raise UsageError(f"{path} is not JSON: run `llmops compile`") from exc
        return found

    def _uncached(self, stage: PipelineStage) -> list[str]:
        return [o.path for o in stage.outs if not o.cached]

    def _cached_output(self, path: str) -> bool:
        return any(o.path == path and o.cached for s in self.stages for o in s.outs)

    def _file_bytes(self, rel: str) -> bytes | None:
        return _read_bytes(self.root / rel)

    def _tracked_md5(self, rel: str) -> str | None:
        if rel not in self._md5:
            self._md5[rel] = md5_on_disk(self.root / rel)
        return self._md5[rel]


def _reads_from(stage: PipelineStage, upstream_stage: PipelineStage) -> bool:
    return any(o.path in stage.deps for o in upstream_stage.outs)


def _lock_text(stages: dict[str, Any]) -> str:
    from dvc.utils.serialize import dumps_yaml

    return dumps_yaml({"schema": LOCK_SCHEMA, "stages": stages})


def _read(path: Path) -> str | None:
    data = _read_bytes(path)
    return data.decode("utf-8") if data is not None else None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
