"""Abuse figures of one window, from the flags the gateway logged on each request
(`llmops.abuse`): the shares of requests flagged prompt_injection, jailbreak, pii (PII in the
prompt) and rate_limited, the API keys that sent PII repeatedly, and the keys whose request rate
was anomalous.

Rates are over the requests the gateway screened (rows with an `abuse` value; rows logged before
migration 0003, or by a gateway with `serving.abuse.detect: false` for the content flags, are not
counted as clean). Rate anomalies are recomputed here over the whole window with one-minute
buckets (`llmops.abuse.anomaly`, the same test the gateway runs online), and the keys the gateway
flagged online are added: the union is `rate_anomaly_keys`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from llmops.abuse.anomaly import anomalous, key_rates
from llmops.abuse.detect import FLAGS, PII, RATE_ANOMALY, RATE_LIMITED
from llmops.abuse.patterns import INJECTION, JAILBREAK

ANONYMOUS = "anonymous"
BUCKET_S = 60.0
LISTED = 20  # keys listed by name in the metrics file, at most
CONTENT_FLAGS = (INJECTION, JAILBREAK, PII)


def flags_of(row: dict[str, Any]) -> list[str] | None:
    """The row's flags; None when the gateway did not screen it (NULL, or unreadable)."""
    raw = row.get("abuse")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return [f for f in value if f in FLAGS] if isinstance(value, list) else None


def abuse_figures(
    requests: list[dict[str, Any]],
    *,
    detect: bool,
    z: float,
    min_requests: int,
    repeated_pii: int,
) -> dict[str, Any]:
    screened = [(row, flags) for row in requests if (flags := flags_of(row)) is not None]
    n = len(screened)
    counts: Counter[str] = Counter(f for _, flags in screened for f in set(flags))

    def rate(flag: str) -> float | None:
        if not n or (flag in CONTENT_FLAGS and not detect):
            return None
        return round(counts[flag] / n, 6)

    pii_by_key = Counter(_key(row) for row, flags in screened if PII in flags)
    repeated = sorted(
        ({"key": k, "requests": c} for k, c in pii_by_key.items() if c >= repeated_pii),
        key=lambda x: (-x["requests"], x["key"]),
    )
    rates = key_rates(((_key(r), float(r["created_at"])) for r in requests), BUCKET_S)
    offline = {r.key: r for r in rates if anomalous(r, z, min_requests)}
    online = {_key(row) for row, flags in screened if RATE_ANOMALY in flags}
    anomalies = sorted(set(offline) | online)
    out: dict[str, Any] = {
        "requests": len(requests),
        "screened": n,
        "keys": len({_key(r) for r in requests}),
        "injection": counts[INJECTION],
        "injection_rate": rate(INJECTION),
        "jailbreak": counts[JAILBREAK],
        "jailbreak_rate": rate(JAILBREAK),
        "pii_prompts": counts[PII],
        "pii_prompt_rate": rate(PII),
        "rate_limited": counts[RATE_LIMITED],
        "rate_limited_rate": rate(RATE_LIMITED),
        "repeated_pii_keys": len(repeated) if n and detect else None,
        "repeated_pii": repeated[:LISTED],
        "rate_anomaly_keys": len(anomalies) if requests else None,
        "rate_anomalies": [
            offline[k].as_dict() if k in offline else {"key": k, "flagged_by": "gateway"}
            for k in anomalies[:LISTED]
        ],
        "by_key": _by_key(screened),
    }
    if not detect:
        out["skipped"] = "serving.abuse.detect is false: no content flags"
    return out


def _key(row: dict[str, Any]) -> str:
    return row.get("key_id") or ANONYMOUS


def _by_key(screened: list[tuple[dict[str, Any], list[str]]]) -> list[dict[str, Any]]:
    """The keys with the most flagged requests (what an operator looks at first)."""
    total: Counter[str] = Counter()
    flagged: dict[str, Counter[str]] = {}
    for row, flags in screened:
        key = _key(row)
        total[key] += 1
        for f in set(flags):
            flagged.setdefault(key, Counter())[f] += 1
    ranked = sorted(flagged, key=lambda k: (-sum(flagged[k].values()), k))[:LISTED]
    return [{"key": k, "requests": total[k], **dict(sorted(flagged[k].items()))} for k in ranked]
