"""A dvc.lock as `dvc repro` would leave it, without running anything: for tests that judge
commits (enforcement, audit) and need results that are fresh against the commit's specs.

Every stage gets its cmd, its params files' content, the hashes of its git-tracked inputs and,
for inputs another stage writes, that stage's output hash. Outputs git tracks (metrics, plots,
reports) are hashed where they are, or written as `{}` first when the test did not write them;
cached outputs (models, datasets) get a made-up `.dir` hash, stable per stage and path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from llmops.results.dvchash import md5_on_disk
from llmops.results.pipeline import producers, read_pipeline


def write_fresh_lock(root: Path) -> None:
    stages = read_pipeline((root / "dvc.yaml").read_text())
    made_by = producers(stages)
    outs: dict[str, str] = {}
    lock: dict[str, Any] = {}
    for stage in stages:
        entry: dict[str, Any] = {"cmd": stage.cmd}
        deps = []
        for path in stage.deps:
            md5 = outs.get(path) if path in made_by else md5_on_disk(root / path)
            deps.append({"path": path, "hash": "md5", "md5": md5 or "0" * 32})
        if deps:
            entry["deps"] = deps
        entry["params"] = {p: json.loads((root / p).read_text()) for p in stage.params}
        entry["outs"] = []
        for out in stage.outs:
            if out.cached:
                md5 = hashlib.md5(f"{stage.name}:{out.path}".encode()).hexdigest() + ".dir"
            else:
                target = root / out.path
                if not target.exists():
                    if "." in target.name:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text("{}\n")
                    else:  # a plots folder
                        target.mkdir(parents=True, exist_ok=True)
                        (target / "placeholder.csv").write_text("x\n")
                md5 = md5_on_disk(target)
            outs[out.path] = md5
            entry["outs"].append({"path": out.path, "hash": "md5", "md5": md5})
        lock[stage.name] = entry
    (root / "dvc.lock").write_text(json.dumps({"schema": "2.0", "stages": lock}, indent=1))
