"""Results records in the DVC remote: one small JSON file per stage run, found by its key.

A record holds the stage's dvc.lock entry (which names every output by hash; the outputs DVC
caches travel through the same remote as ordinary DVC objects) and the bytes of the outputs git
tracks instead (metrics, plots, reports), so a later job can rebuild dvc.lock and those files
without the job that computed them. Records sit beside DVC's objects, under
`<remote>/llmops-results/<key[:2]>/<key>.json`, and go through DVC's own filesystem for the
remote, so every remote DVC supports (S3, GCS, Azure, SSH, a shared folder) works the same.

A record read back is checked before it is used: its key, stage and the hashes of the files it
carries must agree, so a damaged or mislabelled record is refused, never restored.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from llmops.results.chain import StageInputs, out_md5s
from llmops.results.dvchash import dir_md5, file_md5

RECORD_FORMAT = 1
RECORDS_DIR = "llmops-results"
MAX_RECORD_BYTES = 64 * 1024 * 1024


class RecordError(ValueError):
    """A record in the remote that cannot be trusted: damaged, mislabelled or too large."""


@dataclass(frozen=True)
class Record:
    """What one run of one stage produced, as far as dvc.lock and git are concerned."""

    stage: str
    key: str
    lock: dict[str, Any]  # the stage's dvc.lock entry
    files: dict[str, bytes]  # git-tracked outputs: path -> bytes (a folder's files by full path)

    def to_bytes(self) -> bytes:
        body = {
            "format": RECORD_FORMAT,
            "stage": self.stage,
            "key": self.key,
            "lock": self.lock,
            "files": {p: base64.b64encode(b).decode("ascii") for p, b in sorted(self.files.items())},
        }
        return json.dumps(body, indent=1).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, inputs: StageInputs, uncached: list[str]) -> Record:
        """A record read from the remote for `inputs`; `uncached` are the stage's git-tracked
        outputs, whose bytes the record must carry with the hashes its lock entry gives."""
        if len(data) > MAX_RECORD_BYTES:
            raise RecordError(f"results record of {inputs.stage} is over {MAX_RECORD_BYTES} bytes")
        try:
            body = json.loads(data)
            files = {p: base64.b64decode(b, validate=True) for p, b in body["files"].items()}
            record = cls(stage=body["stage"], key=body["key"], lock=body["lock"], files=files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RecordError(f"results record of {inputs.stage} cannot be read: {exc}") from exc
        if body.get("format") != RECORD_FORMAT or record.stage != inputs.stage or record.key != inputs.key():
            raise RecordError(f"results record of {inputs.stage} is labelled for another stage or key")
        record.check_files(uncached)
        return record

    def check_files(self, uncached: list[str]) -> None:
        """Every git-tracked output is carried with the hash the lock entry records."""
        locked = out_md5s(self.lock)
        for path in uncached:
            inside = {p[len(path) + 1 :]: b for p, b in self.files.items() if p.startswith(path + "/")}
            if path in self.files:
                actual = file_md5(self.files[path])
            elif inside:
                actual = dir_md5((rel, file_md5(b)) for rel, b in inside.items())
            else:
                raise RecordError(f"results record of {self.stage} lacks its output {path}")
            if locked.get(path) != actual:
                raise RecordError(
                    f"results record of {self.stage}: {path} is not what its dvc.lock entry records"
                )


class RecordStore:
    """Records under the default remote of a DVC repository (`dvc.repo.Repo`)."""

    def __init__(self, dvc_repo) -> None:
        from dvc.config import NoRemoteError

        try:
            remote = dvc_repo.cloud.get_remote()
        except NoRemoteError as exc:
            from llmops.errors import UsageError

            raise UsageError(
                "no DVC remote is configured: set `storage.remote` in llmops.yaml (the generated "
                "jobs add it), or `dvc remote add --default NAME URL` here"
            ) from exc
        self.fs = remote.fs
        self.root = remote.fs.join(remote.path, RECORDS_DIR)
        self.where = remote.name

    def path(self, key: str) -> str:
        return self.fs.join(self.root, key[:2], f"{key}.json")

    def read(self, key: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(key))
        except FileNotFoundError:
            return None

    def write(self, record: Record) -> None:
        """Write a record; a reader sees the whole file or none (written aside, then moved)."""
        path = self.path(record.key)
        parent = self.fs.parent(path)
        self.fs.makedirs(parent, exist_ok=True)
        partial = self.fs.join(parent, f".{record.key}.partial")
        self.fs.pipe_file(partial, record.to_bytes())
        self.fs.mv(partial, path)
