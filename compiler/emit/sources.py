"""`.llmops/sources/<stage>.json`: which spec files a pipeline stage's config was built from,
and a digest of what in them can change a result.

`llmops run` reads this beside the stage's config, parses only the files it lists and compares
digests, so checking that a config is fresh costs the same at 10 specs as at 5,000. The digest
covers each file's result fields (not descriptions, tags or comments), so it changes exactly
when the stage config could. It is not part of the stage's DVC params: a new digest alone
reruns nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from llmops.compiler.emit.dvc import json_text
from llmops.compiler.emit.header import HEADER_TEXT
from llmops.compiler.parse import SpecFile
from llmops.compiler.stages.model import Stage, result_fields


def spec_fingerprint(sf: SpecFile) -> str:
    """One spec file's path and result fields as canonical JSON."""
    return json.dumps(
        [sf.path, result_fields(sf.spec)], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


def sources_digest(files: Iterable[SpecFile], cache: dict[str, str] | None = None) -> str:
    """The digest of these spec files' result fields; `cache` keeps each file's fingerprint
    across the stages of one compile (a spec is the source of several stages)."""
    pieces = []
    for sf in sorted(files, key=lambda f: f.path):
        if cache is None:
            pieces.append(spec_fingerprint(sf))
        else:
            if sf.path not in cache:
                cache[sf.path] = spec_fingerprint(sf)
            pieces.append(cache[sf.path])
    return text_digest("\n".join(pieces))


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def sources_text(
    stage: Stage, by_path: dict[str, SpecFile], config_text: str, cache: dict[str, str] | None = None
) -> str:
    body = {
        "//": HEADER_TEXT,
        "stage": stage.name,
        "config": text_digest(config_text),
        "specs": list(stage.sources),
        "digest": sources_digest((by_path[p] for p in stage.sources), cache),
    }
    return json_text(body)


def emit_sources(
    stages: Iterable[Stage], by_path: dict[str, SpecFile], files: dict[str, str]
) -> dict[str, str]:
    """One sources file per stage config among `files` (the other generated files)."""
    return {stage.sources_path: sources_text(stage, by_path, files[stage.config_path]) for stage in stages}
