"""Load models and tokenizers safely: safetensors only, never remote code.

A model location is a plain Hugging Face folder (a built base, a full fine-tune, a local model),
an llmops adapter folder (its `llmops-model.json` names the base it was trained on), or a hub id
pinned to a revision, taken from the local cache first and fetched only when the hub answers at
once (`hub.py`). Evaluation and serving load through here
too, so every stage sees a model the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmops.compiler.stages.model import HubModel, ModelLocation, PathModel
from llmops.errors import StageFailed
from llmops.hf.hub import cache_first

MODEL_CARD = "llmops-model.json"


def resolve_location(where: ModelLocation, root: Path) -> tuple[str, str | None]:
    """(name or folder for from_pretrained, revision) of a model a stage config names."""
    if isinstance(where, PathModel):
        from llmops.paths import inside, inside_tree

        folder = inside(root, where.path, "model")
        if not folder.is_dir():
            raise StageFailed(f"model folder {where.path} does not exist; run its stage first")
        inside_tree(root, folder, "model")  # no weights read from outside the project through a link
        return str(folder), None
    if isinstance(where, HubModel):
        return where.hub, where.revision
    raise StageFailed(f"cannot load a model from {where.model_dump()}")


def card_location(data: Any) -> ModelLocation:
    """The base model an llmops model card names (`base_model`), as a typed location."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(ModelLocation).validate_python(data)
    except ValidationError:
        raise StageFailed(f"a model card names no loadable base model: {data!r}") from None


def read_card(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / MODEL_CARD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load_tokenizer(name: str, revision: str | None) -> Any:
    from transformers import AutoTokenizer

    def load(local_only: bool) -> Any:
        return AutoTokenizer.from_pretrained(
            name, revision=revision, trust_remote_code=False, local_files_only=local_only
        )

    tokenizer = _cache_first(load, name, revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    name: str, revision: str | None, root: Path, *, dtype: Any = None, quantization: Any = None
) -> Any:
    """A causal LM ready to tune or run; an llmops adapter folder comes back merged into its base."""
    from transformers import AutoModelForCausalLM

    card = read_card(name) if revision is None else None
    if card and card.get("adapter"):
        base_name, base_revision = resolve_location(card_location(card["base_model"]), root)
        base = load_causal_lm(base_name, base_revision, root, dtype=dtype, quantization=quantization)
        from peft import PeftModel

        return PeftModel.from_pretrained(base, name).merge_and_unload()
    kwargs: dict[str, Any] = {
        "revision": revision,
        "use_safetensors": True,
        "trust_remote_code": False,
    }
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": 0}

    def load(local_only: bool) -> Any:
        # adapter_kwargs too: transformers looks for an adapter config without local_files_only
        return AutoModelForCausalLM.from_pretrained(
            name, local_files_only=local_only, adapter_kwargs={"local_files_only": local_only}, **kwargs
        )

    return _cache_first(load, name, revision)


def _cache_first(load: Callable[[bool], Any], name: str, revision: str | None) -> Any:
    """A local folder, or a hub id from the cache first: with no network a missing model is an
    error at once, not a minute of retries (`hub.cache_first`)."""

    def checked(local_only: bool) -> Any:
        try:
            return load(local_only)
        except OSError as exc:
            raise StageFailed(_not_found(name, revision, exc)) from None

    if Path(name).is_dir():
        return checked(True)
    return cache_first(checked, name, revision, "model")


def _not_found(name: str, revision: str | None, exc: Exception) -> str:
    where = f"{name}@{revision}" if revision else name
    detail = " ".join(str(exc).split()).rstrip(".")
    return (
        f"cannot load model {where} from safetensors: {detail}. A hub model must already be in the local "
        "Hugging Face cache when the hub is unreachable (`huggingface-cli download` it with that revision)"
    )
