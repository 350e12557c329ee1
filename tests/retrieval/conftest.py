"""Fixtures for the retrieval tests: a tiny embedding model in a project folder (built once per
session) and a helper that builds an index folder through the public API."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.embedding_model import build_tiny_embedder

MODEL = "models/tiny/model"

# (id, product, topic, text): queries that share content words with one passage find it.
ROWS = [
    (
        "shipping#0",
        "shop",
        "shipping",
        "Standard shipping: parcels deliver within days; express delivery costs extra.",
    ),
    ("refunds#0", "shop", "returns", "Refunds for returned items are paid to your card within days."),
    ("password#0", "shop", "account", "Reset your password from the login page."),
    ("warranty#0", "shop", "warranty", "The warranty covers repair or replacement of broken products."),
    ("billing#0", "shop", "billing", "Invoice and billing questions: email customer support."),
    ("gift#0", "shop", "payment", "Gift voucher codes pay for orders in the store."),
    ("tracking#0", "shop", "shipping", "The tracking number is on the label of the box."),
    ("app-crash#0", "app", "technical", "App crash error: update the app to fix it."),
    ("app-password#0", "app", "account", "Reset the app password from the app login."),
    ("paris#0", "atlas", "geography", "Paris is the capital of France; a river runs through it."),
]
PASSAGES = [(pid, text, {"product": product, "topic": topic}) for pid, product, topic, text in ROWS]


def chunk_rows(passages: list[tuple[str, str, dict[str, Any]]] = PASSAGES) -> list[dict[str, Any]]:
    """Chunks in the index folder's format (as the index runner writes them)."""
    import hashlib

    return [
        {
            "id": pid,
            "doc_id": pid.split("#")[0],
            "source": f"kb/{pid.split('#')[0]}.md",
            "title": pid.split("#")[0].title(),
            "heading": None,
            "text": text,
            "metadata": meta,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "tokens": len(text.split()),
        }
        for pid, text, meta in passages
    ]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny sentence-transformers folder, built once."""
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"))


@pytest.fixture
def project(tmp_path, tiny_model_dir) -> Path:
    """A project root with the tiny model at `models/tiny/model` (a copy: tests may edit it)."""
    shutil.copytree(tiny_model_dir, tmp_path / MODEL)
    return tmp_path


@pytest.fixture
def make_index(project) -> Callable[..., Path]:
    """`make_index(name, engine=None, passages=PASSAGES) -> index folder` through the public API."""

    def make(name: str = "kb", engine: Any = None, passages=PASSAGES, normalize: bool = True) -> Path:
        from llmops.atomic import replace_dir
        from llmops.retrieval.embedding import Embedder
        from llmops.retrieval.engines import build_engine
        from llmops.retrieval.manifest import write_index_files

        embedder = Embedder.load({"path": MODEL}, project, device="cpu")
        chunks = chunk_rows(passages)
        vectors = embedder.encode([c["text"] for c in chunks], normalize=normalize)
        target = project / "artifacts" / "indexes" / name
        with replace_dir(target) as staging:
            extra = build_engine(engine or {"type": "faiss", "index": "flat"}, vectors, chunks, staging, name)
            manifest = {"name": name, "embedding": embedder.manifest_facts(normalize), **extra}
            write_index_files(staging, manifest, chunks, vectors)
        return target

    return make
