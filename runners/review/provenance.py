"""Provenance: where the base model and the data came from, under which licenses, and hashes.

- Base model built from a config by llmops (its folder's `llmops-model.json` has `built`): no
  third-party license applies, recorded as `BUILT` and always allowed.
- A model tuned by llmops (a FineTune continued from another): its own base's license.
- Local folder: the `license:` of its `README.md` YAML front matter, else `unknown`.
- Hub model: the `license:` of the model card in the local Hugging Face cache, else `unknown`.
- Data: each file the tuned model's card names leads to a dataset manifest (the file's folder's
  `manifest.json`; a prompt artifact's manifest names its dataset folder), whose `sources` carry
  `provenance.license`. No manifest means `unknown`.

Every license is compared, case-insensitively, with the policy's `licenses_allowed`; `unknown`
is never allowed, and each refusal comes with a message that says how to fix it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from llmops.compiler.stages.model import HubModel, ModelLocation, PathModel
from llmops.hashing import file_sha256 as sha256_file

BUILT = "none (built from config by llmops)"
UNKNOWN = "unknown"


def front_matter_license(text: str) -> str | None:
    """`license:` of a Markdown file's leading YAML block (a list gives its items joined)."""
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end == -1:
        return None
    from llmops.yamlsafe import load

    try:
        data = load(text[3:end], "front matter")
    except ValueError:  # malformed or a bomb (yamlsafe.YamlError)
        return None
    value = data.get("license") if isinstance(data, dict) else None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).strip() if value else None


def base_location(card: dict[str, Any]) -> PathModel | HubModel | None:
    """The base model a tuned model's card names (as its tune stage's config gave it), if any."""
    try:
        where = TypeAdapter(ModelLocation).validate_python(card.get("base_model"))
    except ValidationError:
        return None
    return where if isinstance(where, PathModel | HubModel) else None


MAX_CHAIN = 8  # FineTunes continued from FineTunes: how deep a base's own base is followed


def base_license(where: PathModel | HubModel | None, root: Path, depth: int = 0) -> str:
    """The license of a base model; a base that is itself a model tuned by llmops (a FineTune
    continued from another) carries the license of the base it was tuned from."""
    if isinstance(where, PathModel):
        folder = root / where.path
        card = _json(folder / "llmops-model.json")
        if isinstance(card, dict) and card.get("built"):
            return BUILT
        if isinstance(card, dict) and card.get("base_model") and depth < MAX_CHAIN:
            return base_license(base_location(card), root, depth + 1)
        readme = folder / "README.md"
        if readme.is_file():
            return front_matter_license(readme.read_text(encoding="utf-8", errors="replace")) or UNKNOWN
        return UNKNOWN
    if isinstance(where, HubModel):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return UNKNOWN
        cached = try_to_load_from_cache(where.hub, "README.md", revision=where.revision)
        if isinstance(cached, str) and Path(cached).is_file():
            text = Path(cached).read_text(encoding="utf-8", errors="replace")
            return front_matter_license(text) or UNKNOWN
    return UNKNOWN


def data_licenses(data: dict[str, str], root: Path) -> dict[str, str]:
    """{dataset folder/source label (or the file, when no manifest is found): license}."""
    out: dict[str, str] = {}
    for path in sorted(data):
        manifest, folder = _dataset_manifest(Path(path).parent, root)
        if manifest is None:
            out[path] = UNKNOWN
            continue
        for source in manifest.get("sources") or []:
            license_ = (source.get("provenance") or {}).get("license") or UNKNOWN
            out[f"{folder}:{source.get('source', source.get('index'))}"] = str(license_)
        if not manifest.get("sources"):
            out[str(folder)] = UNKNOWN
    return out


def check(licenses: dict[str, Any], allowed: list[str]) -> tuple[bool, list[str]]:
    """(all allowed, one message per license that is not)."""
    ok_set = {a.strip().lower() for a in allowed}
    problems: list[str] = []
    base = licenses["base_model"]
    items = [("base model", base)] + [(f"data {k}", v) for k, v in licenses["data"].items()]
    for what, license_ in items:
        if license_ == BUILT:
            continue
        if license_ == UNKNOWN:
            hint = (
                "add `license:` to the model folder's README.md front matter"
                if what == "base model"
                else "give the source a provenance.license in its Dataset spec"
            )
            problems.append(f"{what}: license unknown ({hint})")
        elif license_.strip().lower() not in ok_set:
            problems.append(f"{what}: license {license_} is not in licenses_allowed ({', '.join(allowed)})")
    return not problems, problems


def model_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every safetensors file under a model folder, by relative path."""
    files = sorted(p for p in folder.rglob("*.safetensors") if p.is_file())
    return {str(p.relative_to(folder)): sha256_file(p) for p in files}


def data_hashes(data: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    """The card's data hashes, each checked against the file as it is now."""
    out: dict[str, dict[str, Any]] = {}
    for path, recorded in sorted(data.items()):
        file = root / path
        now = sha256_file(file) if file.is_file() else None
        out[path] = {"sha256": recorded, "matches": now == recorded}
    return out


def _dataset_manifest(folder: Path, root: Path) -> tuple[dict[str, Any] | None, Path]:
    for _ in range(3):  # a prompt manifest names its dataset; follow at most a short chain
        manifest = _json(root / folder / "manifest.json")
        if not isinstance(manifest, dict):
            return None, folder
        if "sources" in manifest:
            return manifest, folder
        if not isinstance(manifest.get("dataset"), str):
            return None, folder
        folder = Path(manifest["dataset"])
    return None, folder


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
