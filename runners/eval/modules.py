"""Which `evaluate` module scores a metric: the one llmops ships (loaded by path, so an offline
machine scores exactly as CI does) or, when the caller prefers it and it is cached or the Hub
answers, the Hub's. Loaded modules are kept for the life of the process: building one costs
seconds that do not grow with the data.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

MODULES_DIR = Path(__file__).resolve().parent / "metric-modules"
SHIPPED = ("bleu", "sacrebleu", "chrf", "rouge", "exact_match", "accuracy", "f1", "perplexity")
# The Hub's perplexity takes a model id and texts, not the runner's log-likelihoods: never used.
HUB_COMPATIBLE = frozenset(SHIPPED) - {"perplexity"}
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")

log = logging.getLogger(__name__)


def hub_offline() -> bool:
    """Whether the environment forbids network access to the Hub."""
    return any(os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"} for v in OFFLINE_VARIABLES)


def hub_cached_script(name: str) -> Path | None:
    """The newest cached copy of the Hub module `evaluate-metric/<name>`, if `evaluate` has one."""
    import evaluate

    cache = Path(evaluate.config.HF_MODULES_CACHE) / evaluate.config.MODULE_NAME_FOR_DYNAMIC_MODULES
    scripts = [
        script
        for script in (cache / "metrics" / f"evaluate-metric--{name}").glob(f"*/{name}.py")
        if len(script.parent.name) == 64  # evaluate's folders are named by a sha256
    ]
    return max(scripts, key=lambda p: p.stat().st_mtime) if scripts else None


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """One TCP connection to the Hub, given `timeout` seconds in all (name lookup included)."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    answered: list[bool] = []

    def probe() -> None:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(
                (endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=timeout
            ),
        ):
            answered.append(True)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


@contextlib.contextmanager
def _evaluate_offline() -> Iterator[None]:
    """evaluate reads HF_EVALUATE_OFFLINE once, at import; set its flag for one load."""
    import evaluate

    before = evaluate.config.HF_EVALUATE_OFFLINE
    evaluate.config.HF_EVALUATE_OFFLINE = True
    try:
        yield
    finally:
        evaluate.config.HF_EVALUATE_OFFLINE = before


_LOADED: dict[tuple[str, bool], tuple[Any, str]] = {}


def load_module(name: str, *, prefer_hub: bool = False) -> tuple[Any, str]:
    """(the evaluate module, its source): the Hub's when asked for and available, else llmops'."""
    key = (name, prefer_hub and name in HUB_COMPATIBLE)
    if key not in _LOADED:
        import evaluate

        module = _load_hub(name) if key[1] else None
        if module is not None:
            _LOADED[key] = (module, f"hub:{name}")
        else:
            _LOADED[key] = (evaluate.load(str(MODULES_DIR / name), keep_in_memory=True), f"llmops:{name}")
    return _LOADED[key]


def _load_hub(name: str) -> Any | None:
    import evaluate

    script = hub_cached_script(name)
    try:
        if script is not None:
            with _evaluate_offline():
                return evaluate.load(str(script), keep_in_memory=True)
        if not hub_offline() and hub_reachable():
            return evaluate.load(name, module_type="metric", keep_in_memory=True)
    except Exception as err:  # a broken cache or a failed download: the shipped module is as good
        log.warning("the Hub module %s could not be loaded (%s); using llmops' own", name, err)
    return None
