"""Per-key token buckets: `requests_per_minute` sustained, `burst` at once.

A bucket holds up to `burst` tokens and refills at `requests_per_minute / 60` per second; a
request takes one token or is refused with the seconds until one is back (the 429's
Retry-After). Buckets live in process memory: a restart forgives everyone, and several gateway
replicas each allow the full rate (put the limit on the load balancer for a global one).
The number of buckets is bounded because a key is a spec-named key, or `anonymous`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    requests_per_minute: float
    burst: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`take(key)` -> 0 when the request may go, else the seconds to wait (> 0)."""

    def __init__(
        self,
        default: Limit,
        per_key: dict[str, Limit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.per_key = dict(per_key or {})
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def limit(self, key: str) -> Limit:
        return self.per_key.get(key, self.default)

    def take(self, key: str) -> float:
        limit = self.limit(key)
        rate = limit.requests_per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate if rate > 0 else math.inf


def retry_after(wait_s: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s))) if math.isfinite(wait_s) else "3600"
