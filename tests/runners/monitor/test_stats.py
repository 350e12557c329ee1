"""Each statistic against values worked out by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from llmops.runners.monitor.stats import (
    combined_drift,
    js_divergence,
    ks_statistic,
    oov_rate,
    percentile,
    text_drift,
    words,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    # rank = (n - 1) * p / 100: p50 -> 1.5 -> 25; p95 -> 2.85 -> 38.5; p99 -> 2.97 -> 39.7
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert percentile([40.0, 10.0, 30.0, 20.0], 0) == 10.0  # order of input does not matter


def test_ks_is_the_largest_gap_between_the_cdfs() -> None:
    # x:    1    2    3    4    5
    # F_a: 1/3  2/3   1    1    1
    # F_b:  0   1/4  1/2  3/4   1   -> gaps 1/3, 5/12, 1/2, 1/4, 0
    a, b = [1, 2, 3], [2, 3, 4, 5]
    assert ks_statistic(a, b) == pytest.approx(0.5)
    assert ks_statistic([1, 2, 3, 4], [2, 3, 4, 5]) == pytest.approx(0.25)
    assert ks_statistic([1, 2], [1, 2]) == 0.0
    assert ks_statistic([1, 2], [5, 6]) == 1.0
    assert ks_statistic([], [1]) is None


def test_js_divergence_base_two() -> None:
    same = Counter({"a": 2, "b": 2})
    assert js_divergence(same, Counter({"a": 5, "b": 5})) == pytest.approx(0.0)
    assert js_divergence(Counter({"a": 1}), Counter({"b": 1})) == pytest.approx(1.0)
    # p = (1/2, 1/2, 0), q = (1/2, 0, 1/2), m = (1/2, 1/4, 1/4):
    # KL(p||m) = 1/2*log2(1) + 1/2*log2(2) = 1/2, same for q -> JS = 1/2
    assert js_divergence(Counter({"a": 1, "b": 1}), Counter({"a": 1, "c": 1})) == pytest.approx(0.5)
    assert js_divergence(Counter(), Counter({"a": 1})) is None


def test_oov_rate_counts_repeats() -> None:
    live = Counter({"parcel": 2, "refund": 1, "crypto": 3})
    assert oov_rate(live, ["parcel", "refund"]) == pytest.approx(3 / 6)
    assert oov_rate(Counter(), ["x"]) is None


def test_words_lowercase_and_split_on_non_word() -> None:
    assert words("Where's my Parcel #42?") == ["where", "s", "my", "parcel", "42"]


def test_text_drift_hand_computed() -> None:
    reference = ["where is my parcel", "where is my refund"]  # lengths 4, 4
    live = ["where is my parcel", "bitcoin"]  # lengths 4, 1
    out = text_drift(reference, live)
    assert out["length_mean_reference"] == 4.0
    assert out["length_mean_live"] == 2.5
    assert out["length_ks"] == pytest.approx(0.5)  # at x=1: F_live 1/2, F_ref 0
    assert out["oov_rate"] == pytest.approx(1 / 5)
    # reference: where .25 is .25 my .25 parcel .125 refund .125; live: where/is/my/parcel/bitcoin .2 each
    p = {"where": 0.25, "is": 0.25, "my": 0.25, "parcel": 0.125, "refund": 0.125}
    q = {"where": 0.2, "is": 0.2, "my": 0.2, "parcel": 0.2, "bitcoin": 0.2}
    js = 0.0
    for key in set(p) | set(q):
        pp, qq = p.get(key, 0), q.get(key, 0)
        m = (pp + qq) / 2
        js += 0.5 * (pp * math.log2(pp / m) if pp else 0) + 0.5 * (qq * math.log2(qq / m) if qq else 0)
    assert out["vocab_js"] == pytest.approx(js, abs=1e-6)
    assert text_drift(reference, reference)["vocab_js"] == 0.0


def test_combined_drift_is_the_largest_known_part() -> None:
    assert combined_drift({"length_ks": 0.1, "vocab_js": 0.3, "embedding_mmd": None}) == 0.3
    assert combined_drift({"length_ks": None, "vocab_js": None}) is None
