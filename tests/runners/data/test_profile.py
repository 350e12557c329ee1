"""The data profile: each number against a hand-computed value on a small fixed case."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest

from llmops.runners.data.clean import StepCount
from llmops.runners.data.profile import (
    build_profile,
    histogram,
    metrics_from_profile,
    outliers,
    rare_characters,
    stats,
    top_ngrams,
    words,
)


def _rows(*texts: str, label: str | None = None) -> list[dict]:
    return [{"text": t, "_source": 0} | ({"label": label} if label else {}) for t in texts]


def _leaves(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    else:
        yield path, value


# --- length statistics -------------------------------------------------------------------------


def test_stats_hand_computed():
    # deviations from the mean 4: -3 -2 -1 0 6 -> squares sum 50 -> population variance 10
    # p90: position 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6; p99: 3.96 -> 4 + 0.96 * 6 = 9.76
    assert stats([10, 3, 1, 4, 2]) == {
        "count": 5,
        "min": 1,
        "max": 10,
        "mean": 4.0,
        "p50": 3.0,
        "p90": 7.6,
        "p99": 9.76,
        "std": round(math.sqrt(10), 3),
    }


def test_stats_even_count_median_interpolates():
    assert stats([1, 2, 3, 4])["p50"] == 2.5


def test_stats_of_nothing_are_zero():
    assert stats([]) == {
        "count": 0,
        "min": 0,
        "max": 0,
        "mean": 0.0,
        "std": 0.0,
        "p50": 0.0,
        "p90": 0.0,
        "p99": 0.0,
    }


def test_lengths_in_chars_and_tokens_overall_and_per_split():
    profile = build_profile(
        {"train": _rows("one two three", "four"), "test": _rows("five six")}, "text", None, []
    )
    chars, toks = profile["length"]["chars"], profile["length"]["tokens"]
    assert chars["train"]["min"] == 4 and chars["train"]["max"] == 13
    assert chars["test"]["mean"] == 8.0
    assert chars["all"]["count"] == 3
    assert chars["all"]["mean"] == round(25 / 3, 3)
    assert toks["all"] == stats([3, 1, 2])
    assert toks["train"]["max"] == 3


# --- histogram ---------------------------------------------------------------------------------


def test_histogram_power_of_two_bins():
    assert [(r["bin"], r["count"]) for r in histogram([0, 1, 2, 3, 5, 9])] == [
        ("0", 1),
        ("1", 1),
        ("2-3", 2),
        ("4-7", 1),
        ("8-15", 1),
    ]


def test_histogram_keeps_empty_bins_between_used_ones_and_nothing_outside():
    rows = histogram([20, 300])
    assert [r["bin"] for r in rows] == ["16-31", "32-63", "64-127", "128-255", "256-511"]
    assert [r["count"] for r in rows] == [1, 0, 0, 0, 1]
    assert rows[0]["lower"] == 16 and rows[-1]["upper"] == 511
    assert histogram([]) == []


# --- duplicates, labels ------------------------------------------------------------------------


def test_exact_duplicate_rate_uses_the_text_key():
    profile = build_profile(
        {"train": _rows("Hello  World", "hello world"), "test": _rows("other")}, "text", None, []
    )
    assert profile["duplicates"] == {"exact": 1, "exact_rate": 0.333333, "near_rate": None}


def test_near_duplicate_rate_is_passed_through():
    profile = build_profile({"train": _rows("a")}, "text", None, [], near_duplicate_rate=0.1234567)
    assert profile["duplicates"]["near_rate"] == 0.123457


def test_label_counts_and_shares_with_every_label_in_every_split():
    splits = {
        "train": _rows("a", "b", "c", label="billing") + _rows("d", label="shipping"),
        "test": _rows("e", label="billing"),
    }
    labels = build_profile(splits, "text", "label", [])["labels"]
    assert labels["labels"] == ["billing", "shipping"]
    assert labels["counts"] == {
        "all": {"billing": 4, "shipping": 1},
        "train": {"billing": 3, "shipping": 1},
        "test": {"billing": 1, "shipping": 0},
    }
    assert labels["shares"]["train"] == {"billing": 0.75, "shipping": 0.25}
    assert labels["shares"]["all"] == {"billing": 0.8, "shipping": 0.2}
    assert labels["shares"]["test"]["shipping"] == 0.0


def test_no_label_column_no_label_section():
    assert build_profile({"train": _rows("a")}, "text", None, [])["labels"] is None


# --- outliers ----------------------------------------------------------------------------------


def test_one_long_text_among_equal_ones_has_z_sqrt_n_minus_1():
    # 20 texts of 10 chars and one of 1000: the odd one's z-score is exactly sqrt(20) = 4.472
    every = [(f"text{i:06d}", "train") for i in range(20)] + [("x" * 1000, "test")]
    out = outliers(every)
    assert out["count"] == 1
    assert out["examples"] == [
        {"split": "test", "chars": 1000, "z": round(math.sqrt(20), 3), "text": "x" * 199 + "…"}
    ]
    assert out["mean"] == round(1200 / 21, 3)


def test_no_outliers_below_eleven_records_or_without_spread():
    assert outliers([("a" * 10, "t")] * 9 + [("a" * 5000, "t")])["count"] == 0  # max z = sqrt(9) = 3
    assert outliers([("same", "t")] * 50)["count"] == 0
    assert outliers([])["count"] == 0


def test_outlier_examples_capped_and_ordered_by_z_then_text():
    every = [("a" * 10, "train")] * 200 + [(c * 5000, "train") for c in "zyxwvutsrqponm"]
    out = outliers(every)
    assert out["count"] == 14
    assert len(out["examples"]) == 10
    assert [e["text"][0] for e in out["examples"]] == list("mnopqrstuv")


# --- characters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("bell\x07here", ["control"]),
        ("c1 \x85 control", ["control"]),
        ("private \ue000 use", ["private_use"]),
        ("lost \ufffd byte", ["replacement"]),
        ("lone \ud800 half", ["surrogate"]),
        ("CafÃ© au lait", ["mojibake"]),
        ("it‘s â€™ broken", ["mojibake"]),
        ("no-break Â\u00a0space", ["mojibake"]),
    ],
)
def test_rare_character_kinds(text, kinds):
    found = rare_characters([(text, "train")])
    assert found["examples"][0]["kinds"] == kinds
    assert found["records"] == 1


@pytest.mark.parametrize(
    "text", ["naïve café", "SÃO PAULO", "tabs\tand\nnewlines\r\n", "emoji 👍🏽 ok", "日本語"]
)
def test_ordinary_text_is_not_flagged(text):
    assert rare_characters([(text, "train")])["records"] == 0


def test_encoding_problems_count_records_not_characters():
    every = [("Ã© Ã¨ \ufffd", "train"), ("bell\x07", "train"), ("clean", "test"), ("x\ue000", "test")]
    found = rare_characters(every)
    assert found["records"] == 3
    assert found["encoding_problems"] == 1
    assert found["by_kind"] == {
        "control": 1,
        "private_use": 1,
        "replacement": 1,
        "surrogate": 0,
        "mojibake": 1,
    }


# --- n-grams -----------------------------------------------------------------------------------


def test_words_lowercase_and_keep_inner_apostrophes():
    assert words("Don't STOP_me, it's 42 cafés!") == ["don't", "stop", "me", "it's", "42", "cafés"]


def test_top_ngrams_hand_counted():
    texts = ["The refund is late", "the refund is late again", "Refund of the fee"]
    # "again" and "fee" are seen once; "of the" is stopwords only (and seen once)
    assert top_ngrams(texts, 1) == [{"ngram": "refund", "count": 3}, {"ngram": "late", "count": 2}]
    assert top_ngrams(texts, 2) == [
        {"ngram": "is late", "count": 2},
        {"ngram": "refund is", "count": 2},
        {"ngram": "the refund", "count": 2},
    ]
    assert top_ngrams(texts * 2, 2)[-1] == {"ngram": "the fee", "count": 2}
    assert {"ngram": "of the", "count": 2} not in top_ngrams(texts * 2, 2)
    assert top_ngrams(texts, 3) == [
        {"ngram": "refund is late", "count": 2},
        {"ngram": "the refund is", "count": 2},
    ]


def test_top_ngrams_capped_with_ties_alphabetical():
    grams = top_ngrams([" ".join(f"w{i:02d}" for i in range(30))] * 2, 1, top=20)
    assert [g["ngram"] for g in grams] == [f"w{i:02d}" for i in range(20)]


def test_ngrams_counted_on_a_sample_fixed_by_the_texts(monkeypatch):
    monkeypatch.setattr("llmops.runners.data.profile.NGRAM_SAMPLE", 5)
    texts = [f"refund number{i} late" for i in range(12)]
    rows = [{"text": t} for t in texts]
    a = build_profile({"train": rows}, "text", None, [])
    b = build_profile({"train": rows[::-1][:4], "test": rows[::-1][4:]}, "text", None, [])
    assert a["ngram_records"] == 5 and a["ngrams"] == b["ngrams"]
    assert a["ngrams"]["1"][:2] == [{"ngram": "late", "count": 5}, {"ngram": "refund", "count": 5}]


# --- cleaning, PII, whole profile --------------------------------------------------------------


def _steps() -> list[StepCount]:
    empty = StepCount(1, "drop-empty", rows_in=6, rows_out=5)
    empty.drop({"text": "   ", "_source": 1}, "empty text")
    short = StepCount(2, "length-filter", rows_in=5, rows_out=3)
    short.drop({"text": "hi", "_source": 0}, "shorter than 3 chars")
    short.drop({"text": "x" * 300, "_source": 0}, "longer than 200 chars")
    pii = StepCount(
        3, "pii-redact", rows_in=3, rows_out=3, changed=2, found=Counter({"phone": 1, "email": 2})
    )
    return [empty, short, pii]


def test_cleaning_steps_are_copied_with_samples_reduced_to_text():
    profile = build_profile({"train": _rows("a b c", "d e f", "g h i")}, "text", None, _steps())
    first, second, third = profile["cleaning"]
    assert profile["rows_read"] == 6
    assert first == {
        "position": 1,
        "step": "drop-empty",
        "name": "1-drop-empty",
        "rows_in": 6,
        "rows_out": 5,
        "dropped": 1,
        "changed": 0,
        "reasons": {"empty text": 1},
        "found": {},
        "samples": [{"reason": "empty text", "source": 1, "text": "   "}],
    }
    assert second["dropped"] == 2
    assert second["samples"][1]["text"] == "x" * 199 + "…"
    assert third["found"] == {"email": 2, "phone": 1}


def test_examples_never_carry_pii():
    step = StepCount(1, "drop-empty", rows_in=2, rows_out=1)
    step.drop({"text": "write to jane.roe@example.com now"}, "empty text")
    long = "card 4111 1111 1111 1111 " + "y" * 3000
    every = [{"text": f"ok {i:04d}"} for i in range(30)] + [{"text": long}]
    profile = build_profile({"train": every}, "text", None, [step])
    assert profile["cleaning"][0]["samples"][0]["text"] == "write to [EMAIL] now"
    assert profile["outliers"]["examples"][0]["text"].startswith("card [CARD] yyy")
    assert "4111" not in json.dumps(profile) and "jane" not in json.dumps(profile)


def test_pii_comes_from_the_caller_or_the_pii_step():
    rows = {"train": _rows("a")}
    assert build_profile(rows, "text", None, _steps())["pii_found"] == {"email": 2, "phone": 1}
    given = build_profile(rows, "text", None, _steps(), pii_found=Counter({"ip": 3}))
    assert given["pii_found"] == {"ip": 3}
    assert build_profile(rows, "text", None, [])["pii_found"] is None
    assert build_profile(rows, "text", None, [], rows_read=9)["rows_read"] == 9


def _dataset(seed: int) -> dict[str, list[dict]]:
    texts = [f"Where is my refund for order {i}? It was due on day {i % 7}." for i in range(40)]
    texts += ["x" * 2000, "CafÃ© \ufffd", "Same text", "same   TEXT"]
    rows = [{"text": t, "label": ["billing", "shipping"][i % 2], "_source": 0} for i, t in enumerate(texts)]
    random.Random(seed).shuffle(rows)
    return {"train": rows[:30], "validation": rows[30:37], "test": rows[37:]}


def test_profile_is_deterministic_and_independent_of_row_order():
    a = build_profile(_dataset(0), "text", "label", _steps(), near_duplicate_rate=0.05)
    b = build_profile(_dataset(0), "text", "label", _steps(), near_duplicate_rate=0.05)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    shuffled = _dataset(0)
    for rows in shuffled.values():
        random.Random(7).shuffle(rows)
    c = build_profile(shuffled, "text", "label", _steps(), near_duplicate_rate=0.05)
    assert json.dumps(a, sort_keys=True) == json.dumps(c, sort_keys=True)


def test_profile_survives_a_json_round_trip():
    profile = build_profile(_dataset(1), "text", "label", _steps())
    assert json.loads(json.dumps(profile, ensure_ascii=False)) == profile


def test_metrics_are_numbers_only():
    profile = build_profile(_dataset(1), "text", "label", _steps(), near_duplicate_rate=0.05)
    metrics = metrics_from_profile(profile)
    leaves = dict(_leaves(metrics))
    assert leaves and all(isinstance(v, int | float) and not isinstance(v, bool) for v in leaves.values())
    assert metrics["outliers"] == 1
    assert metrics["encoding_problems"] == 1
    assert metrics["near_duplicate_rate"] == 0.05
    assert metrics["pii_found"] == {"email": 2, "phone": 1}
    assert set(metrics["label_counts"]) == {"train", "validation", "test"}
    assert sum(sum(c.values()) for c in metrics["label_counts"].values()) == 44
    assert metrics["length_chars"]["max"] == 2000
    assert set(metrics["length_tokens"]) == {"min", "mean", "p50", "p90", "p99", "max"}


def test_metrics_leave_out_what_was_not_measured():
    metrics = metrics_from_profile(build_profile({"train": _rows("a")}, "text", None, []))
    assert not {"near_duplicate_rate", "pii_found", "label_counts"} & set(metrics)
    assert all(v is not None for _, v in _leaves(metrics))


def test_empty_dataset_profiles_without_error():
    profile = build_profile({"train": [], "validation": [], "test": []}, "text", "label", [])
    assert profile["rows"] == 0 and profile["duplicates"]["exact_rate"] == 0.0
    assert profile["histogram"]["chars"] == [] and profile["labels"]["labels"] == []
    assert metrics_from_profile(profile)["length_chars"]["max"] == 0
