"""The index runner tests: a tiny embedding model (built once per session) inside a project
folder, and `index_config`, a stage config dict shaped like `.llmops/stages/index-<name>.json`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.embedding_model import build_tiny_embedder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


@pytest.fixture
def project(tmp_path, tiny_model_dir) -> Path:
    """A project root with the tiny model at models/tiny."""
    shutil.copytree(tiny_model_dir, tmp_path / "models/tiny")
    return tmp_path


def index_config(
    documents: list[dict[str, Any]],
    *,
    name: str = "kb",
    chunking: dict[str, Any] | None = None,
    engine: dict[str, Any] | None = None,
    datasets: dict[str, str] | None = None,
    embedding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "stage": f"index-{name}",
        "kind": "index",
        "runner_version": 1,
        "spec": {
            "kind": "KnowledgeIndex",
            "name": name,
            "documents": documents,
            "chunking": chunking or {"strategy": "heading", "size": 32, "overlap": 8, "unit": "tokens"},
            "embedding": {
                "model": {"path": "models/tiny"},
                "batch_size": 8,
                "device": "cpu",
                **(embedding or {}),
            },
            "engine": engine or {"type": "faiss", "index": "flat"},
            "metadata_fields": ["product", "source"],
        },
        "inputs": {"datasets": datasets or {}, "seed": 42},
        "outputs": {
            "outs": [f"artifacts/indexes/{name}"],
            "metrics": [f"metrics/index-{name}.json"],
            "reports": [f"reports/index-{name}.md"],
        },
    }


@pytest.fixture(name="index_config")
def index_config_fixture():
    return index_config
