"""Deploy serves exactly the approved weights: every model folder a deployment loads from the
project must hold what the merged commit's DVC records say, byte for byte.

A merge approves `dvc.lock` as committed (CI computed it, the reviewers saw its metrics), not the
folders that happen to sit in a runner's workspace: a stale checkout, a stray file, weights copied
in by hand or an untracked folder would otherwise be served under the approval of other ones. So
before anything starts, each folder's DVC hash on disk (`<md5>.dir`, computed as DVC does) must
equal the hash the committed `dvc.lock` at HEAD records for that path as a stage output (read
from the git blob, never the working-tree file, which anyone on the machine could edit). A folder
DVC tracks through a committed `<folder>.dvc` file (`dvc add`) is approved the same way.

The folders are the stage's model (`inputs.model`) and, for an adapter, the local base model its
card names; the card is read only after the adapter folder, which holds it, has been verified.
A model given by hub id and revision is out of scope here: the revision pins it, and the weights
come from the hub's cache, not the project. Hashing reads every byte of the weights (about a
second per GB), once per deploy: the price of knowing what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.compiler.stages.model import ModelLocation, PathModel
from llmops.errors import CheckFailed
from llmops.results.dvchash import md5_on_disk
from llmops.results.pipeline import LOCK_FILE, read_lock

_PURPOSE = "deploy serves only the weights the committed dvc.lock approves"


@dataclass(frozen=True)
class Approved:
    """What the commit approves for one path: its DVC hash and the file that records it."""

    md5: str
    source: str  # "dvc.lock (stage tune-x)" or "models/base.dvc"


Records = Callable[[str], Approved | None]  # a project-relative path -> what the commit approves


def verify_weights(stage: str, model: ModelLocation, root: Path) -> list[str]:
    """Check every project folder `model` loads against HEAD's DVC records; returns the
    verified paths (project-relative), raises CheckFailed naming the first that fails."""
    if not isinstance(model, PathModel):
        return []  # a hub id pinned by revision (or no model at all): not the project's weights
    commit, records = _records(root)
    verified = [_verify(stage, model.path, root, commit, records)]
    base = _local_base(root / model.path)
    if base is not None:
        verified.append(_verify(stage, base, root, commit, records))
    return verified


def verify_folder(stage: str, path: str, root: Path) -> str:
    """Check one more project folder the deployment serves from (a knowledge index the gateway
    retrieves from) against HEAD's DVC records, as the weights are checked."""
    commit, records = _records(root)
    return _verify(stage, path, root, commit, records)


def _verify(stage: str, path: str, root: Path, commit: str, records: Records) -> str:
    rel = _normal(path)
    approved = records(rel)
    where = f"the committed dvc.lock at {commit[:12]}"
    if approved is None:
        raise CheckFailed(
            f"refused: {stage} would serve {rel}, but the folder is not an output in dvc.lock "
            f"({where} records no hash for it), so no merge approved those weights; make it a "
            f"stage's output (or `dvc add {rel}` and commit {rel}.dvc) and merge that"
        )
    actual = md5_on_disk(root / rel)
    if actual is None:
        raise CheckFailed(
            f"refused: {stage}: {rel} does not exist here; {approved.source} approves {approved.md5}: "
            f"run `dvc pull {rel}`"
        )
    if actual != approved.md5:
        raise CheckFailed(
            f"refused: {stage}: {rel} is not what the merge approved: {approved.source} at "
            f"{commit[:12]} approves {approved.md5}, the folder here hashes to {actual} (a file "
            f"added, removed or changed); run `dvc pull --force {rel}` to restore the approved files"
        )
    return rel


def _records(root: Path) -> tuple[str, Records]:
    """(HEAD's sha, path -> Approved | None) from the commit's dvc.lock and .dvc files."""
    from llmops.gitrepo import blob_text, open_repo

    repo, prefix = open_repo(root, _PURPOSE)
    try:
        commit = repo.head.commit
    except ValueError:
        raise CheckFailed(f"refused: the repository has no commit yet; {_PURPOSE}") from None
    tree = commit.tree
    try:
        lock = read_lock(blob_text(tree, prefix + LOCK_FILE, errors="strict"))
    except Exception as exc:  # not UTF-8, not YAML (ruamel's own errors), not DVC's shape: refused
        raise CheckFailed(
            f"refused: the committed {LOCK_FILE} at {commit.hexsha[:12]} is unreadable: {exc}"
        ) from None
    outs: dict[str, Approved] = {}
    for name, entry in lock.items():
        for out in entry.get("outs") or []:
            if isinstance(out, dict) and isinstance(out.get("path"), str) and out.get("md5"):
                outs[_normal(out["path"])] = Approved(str(out["md5"]), f"{LOCK_FILE} (stage {name})")

    def approved(rel: str) -> Approved | None:
        if rel in outs:
            return outs[rel]
        return _dvc_file(tree, prefix, rel)

    return commit.hexsha, approved


def _dvc_file(tree: Any, prefix: str, rel: str) -> Approved | None:
    """The hash a committed `<rel>.dvc` file (`dvc add`) records for `rel`, if there is one."""
    from llmops.gitrepo import blob_text
    from llmops.yamlsafe import load

    text = blob_text(tree, f"{prefix}{rel}.dvc")
    if text is None:
        return None
    try:
        doc = load(text, f"{rel}.dvc")
    except ValueError:  # malformed or a bomb (yamlsafe.YamlError): then it approves nothing
        return None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    name = rel.rsplit("/", 1)[-1]  # a .dvc file names its output relative to its own folder
    for out in outs if isinstance(outs, list) else []:
        if isinstance(out, dict) and _normal(str(out.get("path", ""))) == name and out.get("md5"):
            return Approved(str(out["md5"]), f"{rel}.dvc")
    return None


def _local_base(folder: Path) -> str | None:
    """The project folder an adapter's card names as its base; None for a full model or a hub base."""
    from llmops.hf.loading import read_card

    card = read_card(folder) or {}
    if not card.get("adapter"):
        return None
    path = (card.get("base_model") or {}).get("path")
    return str(path) if path else None


def _normal(path: str) -> str:
    return path.strip().removeprefix("./").rstrip("/")
