"""The vectorised bootstrap: its formulas equal sacreBLEU's, its intervals equal a naive bootstrap's."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu")

from llmops.runners.eval import bootstrap as bs  # noqa: E402

WORDS = "the a cat dog sat on mat hat big red runs over under house tree , . !".split()  # noqa: SIM905


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Random sentences, some copied, some short or empty, so every branch of BLEU is reached."""
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 13])))

    refs = [sentence() or "x" for _ in range(n)]
    preds = [r if rng.random() < 0.2 else sentence() for r in refs]
    return preds, refs


def bleu_statistics(preds: list[str], refs: list[str], max_order: int = 4) -> np.ndarray:
    """sacreBLEU's per-sentence BLEU statistics, as the shipped modules return them."""
    counter = sacrebleu.BLEU(max_ngram_order=max_order)
    return np.asarray(counter._extract_corpus_statistics(preds, [refs]), dtype=np.float64)


def chrf_statistics(preds: list[str], refs: list[str], word_order: int = 0) -> np.ndarray:
    counter = sacrebleu.CHRF(word_order=word_order)
    return np.asarray(counter._extract_corpus_statistics(preds, [refs]), dtype=np.float64)


def naive_interval(values: list[float], confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def naive_resamples(n: int, samples: int, seed: int) -> np.ndarray:
    """The indices the vectorised bootstrap draws when one chunk holds every resample."""
    assert samples * n <= bs.CHUNK_ELEMENTS
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


# --- the formulas against sacreBLEU ------------------------------------------------------------


@pytest.mark.parametrize(
    ("smooth_method", "smooth_value", "effective_order"),
    [
        ("exp", None, False),
        ("none", None, False),
        ("floor", 0.1, False),
        ("add-k", 1, False),
        ("exp", None, True),
    ],
)
def test_vectorised_bleu_equals_sacrebleu_for_corpus_and_sentences(
    smooth_method, smooth_value, effective_order
):
    preds, refs = corpus(120, seed=1)
    stats = bleu_statistics(preds, refs)
    expected = sacrebleu.corpus_bleu(
        preds,
        [refs],
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        use_effective_order=effective_order,
    ).score
    got = bs.sacrebleu_score(
        stats.sum(axis=0),
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        effective_order=effective_order,
    )
    assert got[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    sentences = bs.sacrebleu_score(
        stats, smooth_method=smooth_method, smooth_value=smooth_value, effective_order=effective_order
    )
    for pred, ref, value in zip(preds, refs, sentences, strict=True):
        score = sacrebleu.BLEU(
            smooth_method=smooth_method, smooth_value=smooth_value, effective_order=effective_order
        ).corpus_score([pred], [[ref]])
        assert value == pytest.approx(score.score, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("word_order", "eps_smoothing", "beta"), [(0, False, 2), (2, False, 2), (0, True, 3)]
)
def test_vectorised_chrf_equals_sacrebleu_exactly(word_order, eps_smoothing, beta):
    preds, refs = corpus(100, seed=3)
    stats = chrf_statistics(preds, refs, word_order=word_order)
    score = bs.chrf_score(stats.sum(axis=0), word_order=word_order, beta=beta, eps_smoothing=eps_smoothing)[0]
    metric = sacrebleu.CHRF(word_order=word_order, beta=beta, eps_smoothing=eps_smoothing)
    assert score == metric.corpus_score(preds, [refs]).score
    sentences = bs.chrf_score(stats, word_order=word_order, beta=beta, eps_smoothing=eps_smoothing)
    for pred, ref, value in zip(preds, refs, sentences, strict=True):
        assert value == pytest.approx(metric.sentence_score(pred, [ref]).score, rel=1e-12, abs=1e-12)


def test_hub_bleu_formula_by_hand():
    # sums: hyp len 9, ref len 10, matches 8 5 3 1 of 9 7 5 3 n-grams.
    sums = np.array([9, 10, 8, 5, 3, 1, 9, 7, 5, 3], dtype=float)
    expected = math.exp(1 - 10 / 9) * (8 / 9 * 5 / 7 * 3 / 5 * 1 / 3) ** 0.25
    assert bs.hub_bleu_score(sums)[0] == pytest.approx(expected, rel=1e-12)
    smoothed = math.exp(1 - 10 / 9) * (9 / 10 * 6 / 8 * 4 / 6 * 2 / 4) ** 0.25
    assert bs.hub_bleu_score(sums, smooth=True)[0] == pytest.approx(smoothed, rel=1e-12)
    no_four_gram = sums.copy()
    no_four_gram[5] = 0
    assert bs.hub_bleu_score(no_four_gram)[0] == 0.0


def test_f1_from_counts_by_hand():
    # classes a, b, c: TP 2 1 1, FP 0 1 1, FN 1 1 0 (see test_metrics for the confusion table).
    tp, fp, fn = (np.array([v], dtype=float) for v in ([2, 1, 1], [0, 1, 1], [1, 1, 0]))
    assert bs.f1_score(tp, fp, fn, "macro")[0] == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)
    assert bs.f1_score(tp, fp, fn, "micro")[0] == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))
    assert bs.f1_score(tp, fp, fn, "weighted")[0] == pytest.approx((3 * 4 / 5 + 2 * 1 / 2 + 1 * 2 / 3) / 6)
    assert bs.f1_score(tp, fp, fn, "binary", pos=0)[0] == pytest.approx(4 / 5)


# --- the intervals -----------------------------------------------------------------------------


def test_counts_are_resamples_of_n():
    chunks = list(bs.resample_counts(7, 50, seed=0))
    counts = np.concatenate(chunks)
    assert counts.shape == (50, 7)
    assert (counts.sum(axis=1) == 7).all()


def test_kept_and_redrawn_resamples_are_the_same():
    kept = np.concatenate(list(bs.Resamples(40, 300, seed=5)))
    redrawn = np.concatenate(list(bs.Resamples(40, 300, seed=5, keep_elements=0)))
    assert (kept == redrawn).all()


def test_mean_interval_contains_the_mean_is_reproducible_and_shrinks_with_n():
    rng = np.random.default_rng(0)

    def width_and_interval(n: int, seed: int) -> tuple[float, tuple]:
        values = (rng.random(n) < 0.6).astype(float)
        ci = bs.interval(values, bs.mean_statistic(n), bs.Resamples(n, 1000, seed), 0.95)
        assert ci[0] <= values.mean() <= ci[1]
        return ci[1] - ci[0], ci

    small, _ = width_and_interval(100, seed=1)
    large, _ = width_and_interval(4000, seed=1)
    assert large < small / 3  # about 1 / sqrt(40) as wide

    values = np.arange(50, dtype=float) % 7
    first = bs.interval(values, bs.mean_statistic(50), bs.Resamples(50, 500, seed=3), 0.9)
    again = bs.interval(values, bs.mean_statistic(50), bs.Resamples(50, 500, seed=3), 0.9)
    other = bs.interval(values, bs.mean_statistic(50), bs.Resamples(50, 500, seed=4), 0.9)
    assert first == again
    assert first != other


def test_no_resamples_no_interval():
    values = np.ones(10)
    assert bs.interval(values, bs.mean_statistic(10), bs.Resamples(10, 0, seed=0), 0.95) == (None, None)


def test_bleu_interval_equals_a_naive_bootstrap_with_sacrebleu():
    preds, refs = corpus(25, seed=4)
    samples, seed = 200, 11
    naive = []
    for row in naive_resamples(len(preds), samples, seed):
        naive.append(sacrebleu.corpus_bleu([preds[i] for i in row], [[refs[i] for i in row]]).score)
    stats = bleu_statistics(preds, refs)
    ci = bs.interval(stats, bs.sacrebleu_score, bs.Resamples(len(preds), samples, seed), 0.95)
    assert ci == pytest.approx(naive_interval(naive, 0.95), rel=1e-9)
    value = sacrebleu.corpus_bleu(preds, [refs]).score
    assert ci[0] <= value <= ci[1]


def test_chrf_interval_equals_a_naive_bootstrap_with_sacrebleu():
    preds, refs = corpus(20, seed=6)
    samples, seed = 150, 2
    naive = [
        sacrebleu.corpus_chrf([preds[i] for i in row], [[refs[i] for i in row]]).score
        for row in naive_resamples(len(preds), samples, seed)
    ]
    ci = bs.interval(
        chrf_statistics(preds, refs), bs.chrf_score, bs.Resamples(len(preds), samples, seed), 0.9
    )
    assert ci == pytest.approx(naive_interval(naive, 0.9), rel=1e-9)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", "binary"])
def test_f1_interval_equals_a_naive_bootstrap(average):
    rng = random.Random(8)
    refs = [rng.choice("abcd") for _ in range(40)]
    preds = [r if rng.random() < 0.6 else rng.choice("abcde") for r in refs]
    labels = sorted(set(refs) | set(preds))
    ids = {label: i for i, label in enumerate(labels)}

    def f1(rows: list[int]) -> float:
        """scikit-learn's definition, written out: labels seen in this resample only."""
        r, p = [refs[i] for i in rows], [preds[i] for i in rows]
        present = sorted(set(r) | set(p))
        counts = {c: [sum(1 for x, y in zip(r, p, strict=True) if x == y == c), 0, 0] for c in present}
        for x, y in zip(r, p, strict=True):
            if x != y:
                counts[y][1] += 1
                counts[x][2] += 1
        per = {c: 2 * tp / (2 * tp + fp + fn) for c, (tp, fp, fn) in counts.items()}
        if average == "binary":
            return per.get("a", 0.0)
        if average == "micro":
            return sum(1 for x, y in zip(r, p, strict=True) if x == y) / len(r)
        if average == "weighted":
            return sum(per[c] * (counts[c][0] + counts[c][2]) for c in present) / len(r)
        return sum(per.values()) / len(per)

    samples, seed = 200, 9
    naive = [f1(list(row)) for row in naive_resamples(len(refs), samples, seed)]
    ci = bs.f1_interval(
        np.array([ids[r] for r in refs]),
        np.array([ids[p] for p in preds]),
        len(labels),
        average=average,
        pos=ids["a"],
        resamples=bs.Resamples(len(refs), samples, seed),
        confidence=0.95,
    )
    assert ci == pytest.approx(naive_interval(naive, 0.95), rel=1e-9)
    assert ci[0] <= f1(list(range(len(refs)))) <= ci[1]


def test_perplexity_interval_equals_a_naive_bootstrap():
    rng = np.random.default_rng(1)
    nll, tokens = rng.uniform(1, 30, 30), rng.integers(1, 20, 30).astype(float)
    samples, seed = 300, 4
    naive = [math.exp(nll[row].sum() / tokens[row].sum()) for row in naive_resamples(30, samples, seed)]
    stats = np.column_stack([nll, tokens])
    ci = bs.interval(stats, bs.perplexity_statistic, bs.Resamples(30, samples, seed), 0.95)
    assert ci == pytest.approx(naive_interval(naive, 0.95), rel=1e-9)
    assert ci[0] <= math.exp(nll.sum() / tokens.sum()) <= ci[1]
