"""The gateway's abuse guard: who sent a request (the API key's name), whether that key is over
its rate limit, and which abuse flags the request raises (`llmops.abuse`).

Flags are logged on the request row and counted in Prometheus; the monitor stage turns them into
rates a Policy gates on. Only with `serving.abuse.block` does a flag change the answer (400,
code `prompt_rejected`); a rate limit always does (429 with Retry-After). Settings come from the
Deployment's `serving` (`guard_from_spec`), so their defaults are the spec's.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

from llmops.abuse.anomaly import RateTracker
from llmops.abuse.detect import BLOCKING, PII, RATE_ANOMALY, Screen, ordered, scan_window
from llmops.abuse.ratelimit import Limit, RateLimiter
from llmops.errors import UsageError
from llmops.pii.detect import count_pii

if TYPE_CHECKING:
    from llmops.compiler.kinds.deployment import Abuse, Serving

ANONYMOUS = "anonymous"
DEFAULT_KEY = "default"  # the name of `serving.api_key_env`'s key
STATE_KEY = "llmops_key"  # where the auth middleware leaves the key's name in the ASGI scope


@dataclass
class AbuseGuard:
    screen: Screen = field(default_factory=Screen)
    block: bool = False
    limiter: RateLimiter | None = None
    tracker: RateTracker | None = None
    pii: bool = True

    async def flags(self, text: str, key: str, now: float) -> list[str]:
        """The flags of one request's prompt text (the classifier, if any, off the event loop)."""
        found = self.screen.patterns(text)
        if self.screen.classify is not None and text:
            found |= await asyncio.to_thread(self.screen.classifier, text)
        if self.pii and self.screen.enabled and text and count_pii(scan_window(text, self.screen.max_chars)):
            found.add(PII)
        if self.tracker is not None and self.tracker.observe(key, now):
            found.add(RATE_ANOMALY)
        return ordered(found)

    def blocks(self, flags: list[str]) -> bool:
        return self.block and any(f in BLOCKING for f in flags)


def guard_from_spec(abuse: Abuse, rate_limit: object | None = None, root: Path | None = None) -> AbuseGuard:
    """The guard a Deployment's `serving.abuse` and `serving.rate_limit` describe."""
    classify = None
    if abuse.detect and abuse.classifier is not None:
        from llmops.abuse.classifier import load

        c = abuse.classifier
        classify = load(
            c.path or c.hub_id or "",
            revision=c.revision,
            labels=dict(c.labels),
            threshold=c.threshold,
            max_tokens=c.max_tokens,
            root=root,
        )
    limiter = None
    if rate_limit is not None:
        default = Limit(rate_limit.requests_per_minute, rate_limit.burst)  # type: ignore[attr-defined]
        per_key = {
            name: Limit(r.requests_per_minute, r.burst)
            for name, r in rate_limit.per_key.items()  # type: ignore[attr-defined]
        }
        limiter = RateLimiter(default, per_key)
    return AbuseGuard(
        screen=Screen(max_chars=abuse.max_scan_chars, classify=classify, enabled=abuse.detect),
        block=abuse.block,
        limiter=limiter,
        tracker=RateTracker(abuse.rate_anomaly_z, abuse.rate_anomaly_min_requests),
        pii=abuse.detect,
    )


def default_guard() -> AbuseGuard:
    from llmops.compiler.kinds.deployment import Abuse

    return guard_from_spec(Abuse())


def keys_from_env(serving: Serving) -> dict[str, str]:
    """Key name -> key for `serving.api_keys_env` (`api_key_env`'s key is the Gateway's
    `api_key`), read from the environment; a variable that is not set is a usage error naming it."""
    keys = {}
    for name, env in serving.api_keys_env.items():
        value = os.environ.get(env, "")
        if not value:
            raise UsageError(
                f"serving.api_keys_env.{name} names ${env}, which is not set: export it (that client's "
                "API key) or remove the key from the Deployment"
            )
        keys[name] = value
    return keys


def key_of(request: Request) -> str:
    """The name of the API key the request came with (set by `ApiKeyAuth`), or `anonymous`."""
    return request.scope.get("state", {}).get(STATE_KEY) or ANONYMOUS


def match_key(given: bytes, expected: dict[str, bytes]) -> str | None:
    """The name of the key `given` (a whole Authorization header) matches, comparing against
    every key in constant time (no early exit, so timing does not tell which key is close)."""
    found = None
    for name, value in expected.items():
        if hmac.compare_digest(given, value) and found is None:
            found = name
    return found
