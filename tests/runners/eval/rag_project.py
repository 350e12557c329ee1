"""A tiny RAG project for the prompt and eval runner tests: four help pages about the topics of
the runner tests' dataset (tests/runners/conftest.py), indexed by the real index stage with the
tiny embedding model (tests/fakes/embedding_model.py), and a Prompt that retrieves from it.

The tiny embedder is a bag of words, so each question shares a content word with its page
("parcel", "item", "charged"/"order", "password"): retrieval finds the right page by that word."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from llmops.runners.registry import run_stage

DOCS = {
    "kb/shipping.md": "# Shipping\n\nA parcel ships within two days. Track the parcel in your account.\n",
    "kb/returns.md": "# Returns\n\nAn item can be returned within 30 days. Return the item for a refund.\n",
    "kb/billing.md": "# Billing\n\nA second charge on an order is a hold. You were charged once per order.\n",
    "kb/account.md": "# Account\n\nReset the password with the reset link on the login page.\n",
}
INDEX_DIR = "artifacts/indexes/kb"
TEMPLATE = "{% for p in passages %}[{{ p.id }}] {{ p.text }}\n{% endfor %}Question: {{ text }}\nAnswer:"


def retrieval(**changes: Any) -> dict[str, Any]:
    return {"index": "kb", "query": "text", "top_k": 2, **changes}


def build_index(root: Path, embedder_dir: Path) -> str:
    """Write the pages and the model into `root` and run the index stage; the index folder."""
    if not (root / "models/embedder").exists():
        shutil.copytree(embedder_dir, root / "models/embedder")
    for rel, text in DOCS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    run_stage(
        {
            "stage": "index-kb",
            "kind": "index",
            "runner_version": 1,
            "spec": {
                "kind": "KnowledgeIndex",
                "name": "kb",
                "documents": [{"path": "kb"}],
                "chunking": {"strategy": "heading", "size": 64, "overlap": 8, "unit": "tokens"},
                "embedding": {"model": {"path": "models/embedder"}, "batch_size": 8, "device": "cpu"},
                "engine": {"type": "faiss", "index": "flat"},
                "metadata_fields": [],
            },
            "inputs": {"datasets": {}, "seed": 42},
            "outputs": {"outs": [INDEX_DIR], "metrics": ["metrics/index-kb.json"], "reports": []},
        },
        root,
    )
    return INDEX_DIR
