"""Write a tuned model: adapter or full weights as safetensors, the tokenizer, and the card.

The card (`llmops-model.json`) is what makes the folder self-describing: the base it needs,
the method, the prompt's content hash, the hashes of the data it saw, the resolved settings and
the final figures. Paths in it are relative to the project so the folder moves with the repo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.compiler.stages.model import HubModel, ModelLocation, PathModel
from llmops.hf.loading import MODEL_CARD


def save_model(
    folder: Path, model: Any, tokenizer: Any, card: dict[str, Any], *, merge: bool, base_label: str
) -> None:
    adapter = bool(card.get("adapter"))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    if adapter:
        _portable_adapter_config(folder / "adapter_config.json", base_label)
    if adapter and merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(str(folder / "merged"))
        tokenizer.save_pretrained(str(folder / "merged"))
        card = {**card, "merged": "merged"}
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _portable_adapter_config(path: Path, base_label: str) -> None:
    """PEFT records the base's absolute path; record the project-relative one instead, so two
    checkouts produce byte-identical folders."""
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_label
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def base_label(where: ModelLocation) -> str:
    if isinstance(where, PathModel):
        return where.path
    if isinstance(where, HubModel):
        return f"{where.hub}@{where.revision or 'main'}"
    return f"deployment:{where.deployment}"  # never: a deployment's model is no base to tune
