"""The tiny embedding model, built once per session for the RAG eval tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.embedding_model import build_tiny_embedder


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))
