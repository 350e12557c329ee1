"""The per-key token bucket and the robust-z request-rate anomaly test."""

from __future__ import annotations

from llmops.abuse.anomaly import RateTracker, anomalous, key_rates, robust_z
from llmops.abuse.ratelimit import Limit, RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(Limit(requests_per_minute=60, burst=3), {"batch": Limit(600, 1)}, clock=clock)
    assert [limiter.take("web") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("web")
    assert 0.99 <= wait <= 1.0 and retry_after(wait) == "1"
    assert limiter.take("other") == 0.0  # buckets are per key
    clock.now += 1.0
    assert limiter.take("web") == 0.0 and limiter.take("web") > 0
    assert limiter.take("batch") == 0.0 and 0 < limiter.take("batch") <= 0.1  # its own rate


def test_robust_z_ignores_the_outlier_it_looks_for_and_floors_the_scale() -> None:
    assert robust_z(100, [10, 11, 9, 10, 12, 500]) > 50  # one earlier spike does not hide the next
    assert robust_z(3, [1, 1, 1]) == 2.0  # MAD 0: the scale is floored at one request
    assert robust_z(5, []) == 0.0


def test_a_key_far_above_its_own_minutes_and_the_fleet_is_anomalous() -> None:
    events = [(k, 60.0 * m) for m in range(30) for k in ("web", "app", "bot")]  # 1/min each
    events += [("bot", 60.0 * 30 + i * 0.5) for i in range(80)]  # then 80 in one minute
    rates = {r.key: r for r in key_rates(events, 60.0)}
    assert rates["bot"].peak == 80 and rates["bot"].z_own > 50
    assert anomalous(rates["bot"], z=5.0, min_requests=30)
    assert not anomalous(rates["web"], z=5.0, min_requests=30)
    assert not anomalous(rates["bot"], z=5.0, min_requests=100)  # too few to matter


def test_the_gateway_tracker_flags_the_burst_minute_only() -> None:
    tracker = RateTracker(z=5.0, min_requests=20)
    for m in range(10):
        assert not tracker.observe("web", 60.0 * m)
        assert not tracker.observe("bot", 60.0 * m + 1)
    flags = [tracker.observe("bot", 600.0 + i * 0.1) for i in range(40)]
    assert not any(flags[:19]) and all(flags[19:])


def test_a_heavy_steady_key_and_a_day_night_cycle_are_not_anomalies() -> None:
    events = [("batch", 60.0 * m + i * 0.5) for m in range(20) for i in range(100)]  # 100/min
    events += [("web", 60.0 * m) for m in range(20)]  # 1/min
    events += [("day", 60.0 * m + i * 0.5) for m in range(0, 600, 60) for i in range(90 + m % 7)]
    rates = {r.key: r for r in key_rates(events, 60.0)}
    assert rates["batch"].baseline == "own" and not anomalous(rates["batch"], z=5.0, min_requests=30)
    assert not anomalous(rates["day"], z=5.0, min_requests=30)  # idle hours are not its baseline
    newcomer = key_rates(events + [("new", 1000.0 + i * 0.1) for i in range(300)], 60.0)
    new = next(r for r in newcomer if r.key == "new")
    assert new.baseline == "fleet" and anomalous(new, z=5.0, min_requests=30)
