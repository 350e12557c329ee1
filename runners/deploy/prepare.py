"""What an engine serves: resolve a Deployment's model into a folder (or hub id) and a name.

Three shapes reach the deploy stage (its `inputs.model`):

* an llmops adapter folder (`artifacts/models/<finetune>` with `llmops-model.json` naming its base);
* a full model folder (a built base, a full fine-tune, a local model);
* a hub id pinned to a revision.

vLLM serves an adapter as LoRA over its base (multi-LoRA, the adapter registered under the
Deployment's name) unless the spec says `lora: merged`. `transformers serve` cannot load an
adapter, so for it, and for `lora: merged`, the adapter is merged into its base and saved as
safetensors under `.llmops/serve/<deployment>/models/<content-hash>/<deployment>/`, reused when a
later deploy of the same content finds it there.

`transformers serve` answers only for the model it was started with, under the very string it was
given. To let clients say `"model": "<deployment>"` on every engine, the transformers engine is
started in the folder `models/<content-hash>/` and given the relative name `<deployment>`, which is
the merged folder itself or a symlink to the full model folder (`ServedModel.workdir`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir
from llmops.compiler.catalog import stage_name
from llmops.compiler.stages.model import DeploymentModel, HubModel, ModelLocation
from llmops.errors import StageFailed

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import Deployment

SERVE_DIR = ".llmops/serve"
_SMALL_FILE = 32 * 1024 * 1024  # content-hashed below this size; larger weights by size + mtime
_LORA_METHODS = {"lora", "qlora"}
_VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks


@dataclass(frozen=True)
class ServedModel:
    """What one engine serves.

    `name`: the name clients put in `"model"` (the Deployment's name).
    `path`: what the engine loads: a folder (absolute) or a hub id; for multi-LoRA, the base.
    `base`: the base an adapter was trained on (folder or hub id), None for a full model.
    `adapter`: the adapter folder served as LoRA (vLLM multi-LoRA), else None.
    `revision`: the hub revision of `path` when it is a hub id.
    `workdir`: the folder where `path`'s relative name `name` exists (transformers engine), else None.
    `lora_rank`: the adapter's rank rounded up to a rank vLLM accepts (multi-LoRA only).
    `fingerprint`: a short hash of the served content; part of the deployment's version.
    """

    name: str
    path: str
    base: str | None
    adapter: str | None
    revision: str | None = None
    workdir: str | None = None
    lora_rank: int | None = None
    fingerprint: str = ""


def serve_dir(root: Path, deployment: str) -> Path:
    return root / SERVE_DIR / deployment


def prepare_model(
    spec: Deployment, model: ModelLocation, root: Path, *, engine: str | None = None
) -> ServedModel:
    """Resolve `model` (the stage's `inputs.model`) into what `engine` serves (chosen from the
    spec when not given); merges and saves an adapter where the engine or the spec needs it."""
    from llmops.runners.deploy.engine import choose_engine

    engine = engine or choose_engine(spec)
    name = spec.name
    if isinstance(model, DeploymentModel):
        raise StageFailed(f"{_stage(name)}: a Deployment serves a model, not another deployment")
    if isinstance(model, HubModel):
        return _hub_model(spec, model, root, engine)
    folder = (root / model.path).resolve()
    if not folder.is_dir():
        raise StageFailed(f"{_stage(name)}: model folder {model.path} does not exist; run its stage first")
    card = _card(folder)
    if not card.get("adapter"):
        return _full_model(spec, folder, root, engine, fingerprint_of(folder))
    method = (card.get("method") or {}).get("type", "lora")
    if method not in _LORA_METHODS:
        raise StageFailed(
            f"{_stage(name)}: {model.path} is a {method} adapter; engines serve LoRA adapters or full "
            "models only (fine-tune with method lora, qlora or full)"
        )
    base_where = card.get("base_model") or {}
    base, base_revision, base_print = _base_of(base_where, root, name)
    adapter_print = _hash(fingerprint_of(folder), base_print)
    if engine == "vllm" and spec.engine.lora == "multi":
        return ServedModel(
            name=name,
            path=base,
            base=base,
            adapter=str(folder),
            revision=base_revision,
            lora_rank=_lora_rank(folder, name),
            fingerprint=adapter_print,
        )
    if card.get("merged") and (folder / card["merged"]).is_dir():
        merged = (folder / card["merged"]).resolve()  # the tune stage saved a merged copy already
        return _full_model(spec, merged, root, engine, adapter_print, base=base)
    workdir = serve_dir(root, name) / "models" / adapter_print
    if not (workdir / name / "config.json").is_file():
        _merge(folder, root, workdir, name)
    return ServedModel(
        name=name,
        path=str(workdir / name),
        base=base,
        adapter=None,
        workdir=str(workdir) if engine == "transformers" else None,
        fingerprint=adapter_print,
    )


def _full_model(
    spec: Deployment, folder: Path, root: Path, engine: str, fingerprint: str, *, base: str | None = None
) -> ServedModel:
    name = spec.name
    workdir = None
    if engine == "transformers":
        workdir = serve_dir(root, name) / "models" / fingerprint
        _link(workdir / name, folder)
    return ServedModel(
        name=name,
        path=str(folder),
        base=base,
        adapter=None,
        workdir=str(workdir) if workdir else None,
        fingerprint=fingerprint,
    )


def _hub_model(spec: Deployment, model: HubModel, root: Path, engine: str) -> ServedModel:
    name, hub, revision = spec.name, model.hub, model.revision
    fingerprint = _hash(f"hub:{hub}@{revision or 'main'}")
    if engine == "vllm":
        return ServedModel(
            name=name, path=hub, base=None, adapter=None, revision=revision, fingerprint=fingerprint
        )
    folder = Path(_snapshot(hub, revision, name))
    return _full_model(spec, folder, root, engine, fingerprint)


def _snapshot(hub: str, revision: str | None, name: str) -> str:
    """The local folder of a hub model (the Hugging Face cache), downloaded only when online."""
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return str(
            snapshot_download(
                hub,
                revision=revision,
                local_files_only=offline,
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
            )
        )
    except Exception as exc:  # the hub client raises several unrelated types for "not there"
        where = f"{hub}@{revision}" if revision else hub
        raise StageFailed(
            f"{_stage(name)}: model {where} is not in the local Hugging Face cache and cannot be fetched "
            f"({type(exc).__name__}); `huggingface-cli download` it with that revision first"
        ) from None


def _base_of(where: dict[str, Any], root: Path, name: str) -> tuple[str, str | None, str]:
    """(folder or hub id, revision, fingerprint) of an adapter's base."""
    if where.get("path"):
        folder = (root / where["path"]).resolve()
        if not folder.is_dir():
            raise StageFailed(
                f"{_stage(name)}: the adapter's base model {where['path']} does not exist; "
                "run its stage first"
            )
        return str(folder), None, fingerprint_of(folder)
    if where.get("hub"):
        return (
            where["hub"],
            where.get("revision"),
            _hash(f"hub:{where['hub']}@{where.get('revision') or 'main'}"),
        )
    raise StageFailed(f"{_stage(name)}: the adapter's card names no base model")


def _merge(adapter: Path, root: Path, workdir: Path, name: str) -> None:
    """Merge the adapter into its base and save safetensors + tokenizer, all or nothing."""
    from llmops.hf.loading import load_causal_lm, load_tokenizer

    model = load_causal_lm(str(adapter), None, root)
    tokenizer = load_tokenizer(str(adapter), None)
    with replace_dir(workdir) as staging:
        model.save_pretrained(str(staging / name), safe_serialization=True)
        tokenizer.save_pretrained(str(staging / name))


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    tmp = link.with_name(f".{link.name}.link")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


def _card(folder: Path) -> dict[str, Any]:
    from llmops.hf.loading import read_card

    return read_card(folder) or {}


def _lora_rank(adapter: Path, name: str) -> int:
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StageFailed(f"{_stage(name)}: {adapter} has no readable adapter_config.json") from None
    rank = int(config.get("r") or 8)
    for allowed in _VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise StageFailed(f"{_stage(name)}: LoRA rank {rank} is above vLLM's largest ({_VLLM_LORA_RANKS[-1]})")


def fingerprint_of(folder: Path) -> str:
    """A short hash of a model folder: names and contents of its files, except that weight files
    over 32 MiB count by size and mtime (hashing many GB on every deploy would cost minutes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        stat = path.stat()
        digest.update(f"{rel}\0{stat.st_size}\0".encode())
        if stat.st_size <= _SMALL_FILE:
            digest.update(path.read_bytes())
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _stage(deployment: str) -> str:
    """The deploy stage's name, for messages."""
    return stage_name("deploy", deployment)
