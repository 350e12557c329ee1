"""Reach the Hugging Face hub only when the local cache cannot serve, and then fail at once.

Left to themselves, transformers and datasets ask the hub first and retry a failed request
with backoff: a hub model or data set that is not in the local cache took about 58 s (23 s for
a data set) to give its error on a machine without network. So every hub load goes:

1. the local cache only (`local_files_only=True`; for datasets, its offline mode for the call);
2. on a miss with HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE) set: an error
   at once, since nothing may be fetched;
3. otherwise one metadata request to the hub, without retries, with huggingface_hub's own
   timeout (HF_HUB_ETAG_TIMEOUT, default 10 s): unreachable, no such repository or revision is
   an error at once; only when the hub answers is the download left to the library.

The offline variables are read at call time: huggingface_hub and datasets read them once, at
import, which is too early for a test or a caller that sets them later.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from llmops.errors import StageFailed

T = TypeVar("T")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
FETCH_HINT = "`hf download {repo} --revision {revision}{kind}` on a machine with network"


def offline() -> bool:
    """Whether the environment forbids reaching the hub, read now."""
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


class HubUnavailable(StageFailed):
    """A hub model or data set that is not in the local cache and cannot be fetched now."""


def cache_first(
    load: Callable[[bool], T], repo: str, revision: str | None, kind: Literal["model", "dataset"]
) -> T:
    """`load(local_files_only)` from the cache, else from the hub after one quick check.

    `load` raises OSError or StageFailed when the cache misses; any other error is a real one
    and is raised as it is."""
    try:
        return load(True)
    except (OSError, StageFailed):  # a cache miss (datasets: ConnectionError, an OSError too)
        pass
    where = f"{repo}@{revision}" if revision else repo
    fetch = FETCH_HINT.format(
        repo=repo, revision=revision or "main", kind=" --repo-type dataset" if kind == "dataset" else ""
    )
    if offline():
        raise HubUnavailable(
            f"hub {kind} {where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it "
            f"cannot be downloaded; fetch it first with {fetch}"
        )
    try:
        probe(repo, revision, kind)
    except Exception as exc:
        raise HubUnavailable(
            f"hub {kind} {where} is not in the local Hugging Face cache and the hub did not serve it "
            f"({type(exc).__name__}: {_short(exc)}); check the id and revision, or fetch it with {fetch}"
        ) from None
    return load(False)


def probe(repo: str, revision: str | None, kind: Literal["model", "dataset"]) -> None:
    """One request for the repository's metadata at that revision: no retries, a short timeout."""
    from huggingface_hub import HfApi, constants

    api = HfApi()
    info = api.dataset_info if kind == "dataset" else api.model_info
    info(repo, revision=revision, timeout=constants.HF_HUB_ETAG_TIMEOUT)


def load_hub_dataset(repo: str, revision: str | None, split: str) -> Any:
    """A `datasets` split of a hub data set, cache first (see the module's docstring)."""
    import datasets

    def load(local_only: bool) -> Any:
        with datasets_offline(local_only):
            return datasets.load_dataset(repo, revision=revision, split=split)

    return cache_first(load, repo, revision, "dataset")


@contextlib.contextmanager
def datasets_offline(on: bool) -> Iterator[None]:
    """datasets' offline mode for one call: it has no `local_files_only`, and reads its offline
    flag from module constants set at import, so they are set here for the call and restored."""
    if not on:
        yield
        return
    import datasets.config
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300].rstrip(".")
