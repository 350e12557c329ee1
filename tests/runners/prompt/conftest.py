"""Helpers for the prompt stage tests: a dataset folder and a stage config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.stages.prompt import PromptConfig
from llmops.runners.registry import typed_config


def write_dataset(root: Path, splits: dict[str, list[dict]], *, name: str = "faq", id_column=None) -> str:
    """A dataset stage's output folder: split files and a manifest."""
    folder = root / "artifacts" / "datasets" / name
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        rows = splits.get(split, [])
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    manifest = {"dataset": name, "id_column": id_column, "rows": sum(len(v) for v in splits.values())}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return f"artifacts/datasets/{name}"


def stage_config(spec: dict[str, Any], *, name: str = "demo", dataset: str = "faq") -> PromptConfig:
    """A config shaped like `.llmops/stages/prompt-<name>.json` from the compiler, typed as the
    runner takes it."""
    data = {
        "stage": f"prompt-{name}",
        "kind": "prompt",
        "runner_version": 1,
        "spec": {"kind": "Prompt", "name": name, "dataset": dataset, **spec},
        "inputs": {"dataset": f"artifacts/datasets/{dataset}"},
        "outputs": {
            "outs": [f"artifacts/prompts/{name}"],
            "metrics": [f"metrics/prompt-{name}.json"],
            "plots": [],
            "reports": [],
        },
    }
    return typed_config(data)  # type: ignore[return-value]


@pytest.fixture
def dataset():
    """write_dataset(root, {split: rows}, name=..., id_column=...) -> the folder, relative."""
    return write_dataset


@pytest.fixture
def config():
    """stage_config(spec fields, name=..., dataset=...) -> a typed prompt stage config."""
    return stage_config


@pytest.fixture
def rows() -> dict[str, list[dict]]:
    def qa(prefix: str, n: int) -> list[dict]:
        return [
            {"text": f"{prefix} question {i}?", "answer": f"{prefix} answer {i}.", "_source": "a.jsonl"}
            for i in range(n)
        ]

    return {"train": qa("train", 4), "validation": qa("val", 2), "test": qa("test", 2)}
