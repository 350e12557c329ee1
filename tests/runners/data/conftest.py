"""Helpers for the data runner tests: write source files, build a stage config, run, read back."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmops.runners.data.run import run
from llmops.runners.registry import typed_config


def config_for(
    spec: dict[str, Any], *, name: str = "demo", seed: int = 42, datasets: dict | None = None
) -> dict:
    """A stage config shaped like `.llmops/stages/data-<name>.json` from the compiler (a dict;
    `Project.run` validates it into the typed config the runner takes)."""
    return {
        "stage": f"data-{name}",
        "kind": "data",
        "runner_version": 1,
        "spec": {"kind": "Dataset", "name": name, **spec},
        "inputs": {"datasets": datasets or {}, "seed": seed},
        "outputs": {
            "outs": [f"artifacts/datasets/{name}"],
            "metrics": [f"metrics/data-{name}.json"],
            "plots": [],
        },
    }


@dataclass
class Project:
    root: Path

    def jsonl(self, rel: str, rows: list[dict]) -> str:
        return self.write(rel, "".join(json.dumps(r) + "\n" for r in rows))

    def csv(self, rel: str, rows: list[dict]) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return rel

    def write(self, rel: str, text: str) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return rel

    def config(self, spec: dict[str, Any], **kw: Any) -> dict:
        return config_for(spec, **kw)

    def run(self, spec: dict[str, Any], **kw: Any) -> Path:
        config = typed_config(config_for(spec, **kw))
        run(config, self.root)  # type: ignore[arg-type]
        return self.root / config.outputs.outs[0]

    def rows(self, name: str = "demo", split: str | None = None) -> list[dict]:
        folder = self.root / "artifacts" / "datasets" / name
        splits = [split] if split else ["train", "validation", "test"]
        return [json.loads(line) for s in splits for line in (folder / f"{s}.jsonl").read_text().splitlines()]

    def manifest(self, name: str = "demo") -> dict:
        return json.loads((self.root / "artifacts" / "datasets" / name / "manifest.json").read_text())

    def metrics(self, name: str = "demo") -> dict:
        return json.loads((self.root / "metrics" / f"data-{name}.json").read_text())

    def snapshot(self, name: str = "demo") -> dict[str, bytes]:
        folder = self.root / "artifacts" / "datasets" / name
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def qa(n: int, topic: str = "billing", start: int = 0) -> list[dict]:
    """n distinct question/answer records."""
    return [
        {"question": f"Question number {i} about {topic}?", "answer": f"Answer {i}.", "topic": topic}
        for i in range(start, start + n)
    ]


@pytest.fixture
def make_qa():
    return qa
