"""The SHA-256 of a file, read in 1 MiB blocks so a dataset of any size hashes in constant memory.

One definition for every record of what a stage read (the data stage's sources, the base and
tune stages' data hashes) and for the review's provenance check, which compares those records
with the files on disk: both sides must hash the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The file's SHA-256 as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
