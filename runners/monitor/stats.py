"""The monitor stage's statistics, as small pure functions over plain Python lists.

Kept free of numpy and torch so every figure can be checked by hand in a test, and so a
monitoring job that has no model still computes everything but the embedding drift.

Definitions (the README repeats them for users):
- percentile: linear interpolation between closest ranks (numpy's default), p in 0..100.
- two-sample Kolmogorov–Smirnov statistic: the largest gap between the two empirical CDFs,
  0 (same distribution) .. 1 (no overlap).
- Jensen–Shannon divergence of two unigram distributions, base 2: 0 (same) .. 1 (disjoint).
- OOV rate: the share of live tokens whose word never occurs in the reference.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def words(text: str) -> list[str]:
    """Lower-cased word tokens: what length and vocabulary statistics count."""
    return _WORD.findall(text.lower())


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float | None:
    """sup |F_a(x) - F_b(x)| over every observed x; None when either side is empty."""
    if not a or not b:
        return None
    sa, sb = sorted(a), sorted(b)
    gap = 0.0
    for x in sorted(set(sa) | set(sb)):
        gap = max(gap, abs(bisect_right(sa, x) / len(sa) - bisect_right(sb, x) / len(sb)))
    return gap


def js_divergence(p: Counter[str], q: Counter[str]) -> float | None:
    """Jensen–Shannon divergence (base 2) of two count tables read as distributions."""
    total_p, total_q = sum(p.values()), sum(q.values())
    if not total_p or not total_q:
        return None
    div = 0.0
    for key in set(p) | set(q):
        pp, qq = p.get(key, 0) / total_p, q.get(key, 0) / total_q
        m = (pp + qq) / 2
        if pp:
            div += 0.5 * pp * math.log2(pp / m)
        if qq:
            div += 0.5 * qq * math.log2(qq / m)
    return min(max(div, 0.0), 1.0)


def oov_rate(live: Counter[str], reference: Iterable[str]) -> float | None:
    """Share of live tokens (with repeats) whose word the reference never uses."""
    total = sum(live.values())
    if not total:
        return None
    known = set(reference)
    return sum(n for word, n in live.items() if word not in known) / total


def text_drift(reference: Sequence[str], live: Sequence[str]) -> dict[str, float | int | None]:
    """Length and vocabulary drift of live inputs against reference inputs (word level)."""
    ref_tokens = [words(t) for t in reference]
    live_tokens = [words(t) for t in live]
    ref_counts: Counter[str] = Counter(w for ws in ref_tokens for w in ws)
    live_counts: Counter[str] = Counter(w for ws in live_tokens for w in ws)
    ref_lengths = [len(ws) for ws in ref_tokens]
    live_lengths = [len(ws) for ws in live_tokens]
    return {
        "reference_n": len(reference),
        "live_n": len(live),
        "length_mean_reference": _round(mean(ref_lengths)),
        "length_mean_live": _round(mean(live_lengths)),
        "length_ks": _round(ks_statistic(ref_lengths, live_lengths)),
        "vocab_js": _round(js_divergence(ref_counts, live_counts)),
        "oov_rate": _round(oov_rate(live_counts, ref_counts)),
    }


def combined_drift(parts: dict[str, float | None]) -> float | None:
    """The one `drift` figure a Policy's `max_drift` reads: the largest of the drift distances
    that could be computed (each 0 = same distribution .. 1 = disjoint), None when none could."""
    known = [v for v in parts.values() if v is not None]
    return round(max(known), 6) if known else None


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)
