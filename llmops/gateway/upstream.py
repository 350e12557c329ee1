"""Where the engine is, and which model name it wants.

An engine is fixed (`--engine-url`) or followed through the deploy stage's live record
(`.llmops/serve/<deployment>/live.json`): the file is re-read when its mtime changes, so a
blue/green switch moves traffic without restarting the gateway.

Engines name their model their own way (`transformers serve` pins the model's path, vLLM the
served name), while clients use the Deployment's name. The gateway asks the engine's `/v1/models`
once per engine URL and rewrites the Deployment's name (or a missing `model`) to the engine's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from llmops.gateway.errors import ApiError

STAT_EVERY_S = 0.25  # how stale the live record may be before it is looked at again


@dataclass(frozen=True)
class Target:
    url: str  # e.g. http://127.0.0.1:41234, no trailing slash
    models: tuple[str, ...]  # the ids the engine lists; the first one is the default


class Upstream:
    """The current engine, from a fixed URL or a followed live record."""

    def __init__(self, *, url: str | None = None, live_file: Path | None = None) -> None:
        if (url is None) == (live_file is None):
            raise ValueError("give exactly one of url or live_file")
        self.fixed_url = url.rstrip("/") if url else None
        self.live_file = live_file
        self._live_url: str | None = None
        self._live_mtime: float | None = None
        self._checked_at = 0.0
        self._models: dict[str, tuple[str, ...]] = {}

    def describe(self) -> str:
        return self.fixed_url or f"following {self.live_file}"

    def current_url(self) -> str:
        if self.fixed_url is not None:
            return self.fixed_url
        now = time.monotonic()
        if now - self._checked_at >= STAT_EVERY_S or self._live_url is None:
            self._checked_at = now
            self._reload()
        if self._live_url is None:
            raise ApiError(
                503,
                f"no engine is live: {self.live_file} is missing or unreadable "
                "(run the deployment's deploy stage, or give --engine-url)",
                type="server_error",
                code="engine_unavailable",
            )
        return self._live_url

    def _reload(self) -> None:
        assert self.live_file is not None
        try:
            mtime = self.live_file.stat().st_mtime_ns
        except OSError:
            self._live_url = None
            return
        if mtime == self._live_mtime and self._live_url is not None:
            return
        try:
            record = json.loads(self.live_file.read_text(encoding="utf-8"))
            url = str(record["url"]).rstrip("/")
        except (OSError, ValueError, KeyError, TypeError):
            return  # a half-seen write: keep the previous engine until the next look
        self._live_mtime = mtime
        self._live_url = url

    async def target(self, client: aiohttp.ClientSession) -> Target:
        url = self.current_url()
        models = self._models.get(url)
        if models is None:
            models = await self._discover(client, url)
            self._models[url] = models
        return Target(url, models)

    async def _discover(self, client: aiohttp.ClientSession, url: str) -> tuple[str, ...]:
        try:
            async with client.get(url + "/v1/models", timeout=aiohttp.ClientTimeout(total=10)) as response:
                response.raise_for_status()
                listing = json.loads(await response.read())
            ids = tuple(str(m["id"]) for m in listing.get("data", []) if "id" in m)
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ApiError(
                502,
                f"the engine at {url} did not list its models: {exc}",
                type="server_error",
                code="bad_gateway",
            ) from None
        if not ids:
            raise ApiError(
                502, f"the engine at {url} serves no model", type="server_error", code="bad_gateway"
            )
        return ids


def engine_model(requested: str | None, target: Target, names: set[str]) -> str:
    """The engine's model id for what the client asked: one of the engine's own ids passes through,
    the Deployment's public name(s) or no model map to the engine's default."""
    if requested is not None and requested in target.models:
        return requested  # the engine serves this name itself (vLLM's LoRA under the Deployment's name)
    if requested is None or requested in names:
        # Prefer the engine's model named after the Deployment: with vLLM multi-LoRA the engine
        # lists `<name>-base` too, and the base alone is not what the Deployment serves.
        preferred = [m for m in target.models if m in names]
        return preferred[0] if preferred else target.models[0]
    choices = ", ".join(sorted(names))
    raise ApiError(
        404,
        f"the model '{requested}' is not served here; use '{choices}'",
        param="model",
        code="model_not_found",
    )
