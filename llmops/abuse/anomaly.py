"""Request-rate anomalies: a key whose rate in some time bucket is far above its own usual rate
(or, for a key without enough history of its own, above the other keys'), by a robust z-score
(median and MAD, so the anomalies being looked for do not drag the baseline up the way a mean and
standard deviation would).

  z = (x - median) / (1.4826 * MAD), with the scale floored at `min_scale` requests

The floor matters with sparse counts: a key seen once per bucket has MAD 0, and any second
request would otherwise be "infinitely" anomalous. The baseline is the key's own *active*
buckets (idle ones left out, so a service busy by day and idle by night is not an anomaly every
morning); a key with fewer than `MIN_HISTORY` of them is compared with the other keys' peaks
instead (a new key that starts with a flood), so a steadily heavy client such as a batch job is
judged against itself, not against light web clients. A key is anomalous when its peak bucket
holds at least `min_requests` requests and that z is at least `z`. Shared by the monitor stage
(over the window's log) and the gateway (online, the current minute).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAD_TO_SIGMA = 1.4826
MIN_HISTORY = 5  # active buckets a key needs before it is judged against itself


def robust_z(value: float, sample: Sequence[float], min_scale: float = 1.0) -> float:
    """How many robust standard deviations `value` is above the median of `sample` (0 if empty)."""
    if not sample:
        return 0.0
    median = statistics.median(sample)
    mad = statistics.median(abs(x - median) for x in sample)
    return (value - median) / max(MAD_TO_SIGMA * mad, min_scale)


@dataclass(frozen=True)
class KeyRate:
    key: str
    peak: int  # most requests in one bucket
    peak_start: float  # unix seconds where that bucket starts
    z_own: float  # the peak against the key's other active buckets
    z_fleet: float  # the peak against the other keys' peaks
    requests: int
    history: int  # the key's other active buckets

    @property
    def baseline(self) -> str:
        return "own" if self.history >= MIN_HISTORY else "fleet"

    @property
    def z(self) -> float:
        return self.z_own if self.baseline == "own" else self.z_fleet

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "peak": self.peak,
            "peak_start": self.peak_start,
            "z_own": round(self.z_own, 3),
            "z_fleet": round(self.z_fleet, 3),
            "baseline": self.baseline,
            "requests": self.requests,
        }


def key_rates(events: Iterable[tuple[str, float]], bucket_s: float) -> list[KeyRate]:
    """Per key: its peak bucket and that peak's robust z against its own other active buckets and
    against the other keys' peaks."""
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for key, ts in events:
        counts[key][int(ts // bucket_s)] += 1
    peaks = {key: max(buckets.items(), key=lambda kv: (kv[1], -kv[0])) for key, buckets in counts.items()}
    out = []
    for key, buckets in sorted(counts.items()):
        peak_bucket, peak = peaks[key]
        others = [c for b, c in buckets.items() if b != peak_bucket]
        fleet = [p for k, (_, p) in peaks.items() if k != key]
        out.append(
            KeyRate(
                key=key,
                peak=peak,
                peak_start=peak_bucket * bucket_s,
                z_own=robust_z(peak, others),
                z_fleet=robust_z(peak, fleet),
                requests=sum(buckets.values()),
                history=len(others),
            )
        )
    return out


def anomalous(rate: KeyRate, z: float, min_requests: int) -> bool:
    return rate.peak >= min_requests and rate.z >= z


class RateTracker:
    """The gateway's online view: requests per key per minute over the last `history` minutes.
    `observe(key, now)` counts one request and says whether this key's current minute is an
    anomaly (the same test as the monitor's, with one-minute buckets). Memory is bounded by the
    number of keys (spec-named, or `anonymous`) times `history`."""

    def __init__(self, z: float, min_requests: int, history: int = 60) -> None:
        self.z = z
        self.min_requests = min_requests
        self.history = history
        self._counts: dict[str, dict[int, int]] = {}

    def observe(self, key: str, now: float) -> bool:
        minute = int(now // 60)
        buckets = self._counts.setdefault(key, {})
        buckets[minute] = buckets.get(minute, 0) + 1
        current = buckets[minute]
        if len(buckets) > self.history:
            for old in [m for m in buckets if m <= minute - self.history]:
                del buckets[old]
        if current < self.min_requests:
            return False
        own = [c for m, c in buckets.items() if m != minute]
        if len(own) >= MIN_HISTORY:
            return robust_z(current, own) >= self.z
        fleet = [max(b.values()) for k, b in self._counts.items() if k != key and b]
        return robust_z(current, fleet) >= self.z
