"""Percentile bootstrap confidence intervals, vectorised so that scoring stays a small part of an eval.

Every metric llmops scores is a function of *sums of per-example sufficient statistics*: a mean
score (per-example values), corpus BLEU (n-gram matches and totals, hypothesis and reference
lengths), chrF (hypothesis, reference and matched n-gram counts per order), perplexity (negative
log-likelihood and token count), F1 (per-class true positives, false positives, false negatives).
A resample is how many times each example was drawn, so the sums of all resamples are one matrix
product, counts (samples x n) @ stats (n x k), and the metric is then computed row-wise with numpy
from those sums. There is no Python loop per resample and nothing is re-tokenised: 1,000 resamples
of 1,000 examples cost milliseconds per metric, where calling sacreBLEU per resample costs seconds.

The resamples come from `numpy.random.default_rng(seed)`, drawn in chunks of whole resamples. The
same seed and n give the same resamples for every metric, so intervals are reproducible and every
metric of one eval is resampled on the same example sets (a paired bootstrap).

The per-example statistics of BLEU and chrF are sacreBLEU's own: `BLEU/CHRF._extract_corpus_statistics`
(the per-segment statistics sacreBLEU keeps for its paired bootstrap), which the shipped `bleu`,
`sacrebleu` and `chrf` modules return with `return_statistics=True`; their sums over all examples
are exactly what `corpus_score` aggregates. The vectorised formulas below re-implement
`BLEU.compute_bleu` and `CHRF._compute_f_score` (and the Hub `bleu` module's formula) with the same
operations in the same order; tests check them against sacreBLEU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

# How many entries a chunk of the counts matrix may hold (float64: 16 MiB).
CHUNK_ELEMENTS = 1 << 21
_MY_LOG_ZERO = -9999999999  # sacrebleu.utils.my_log(0)


def resample_counts(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of a (samples x n) matrix: how often each example is drawn in each resample.

    A chunk of c resamples is `rng.integers(0, n, (c, n))`, turned into counts with one bincount.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, samples, rows):
        c = min(rows, samples - start)
        drawn = rng.integers(0, n, size=(c, n))
        drawn += (np.arange(c, dtype=drawn.dtype) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=c * n).reshape(c, n).astype(np.float64)


class Resamples:
    """The resamples of one seeded bootstrap over n examples, as chunks of counts.

    Drawn once and shared by every metric when the whole matrix is small (up to 32 MiB: 1,000
    resamples of up to 4,000 examples); drawn again, identically, from the seed for each metric
    when it is not, so memory stays bounded by one chunk.
    """

    def __init__(self, n: int, samples: int, seed: int, keep_elements: int = 1 << 22) -> None:
        self.n, self.samples, self.seed = n, max(samples, 0), seed
        small = self.n * self.samples <= keep_elements
        self._kept = list(resample_counts(n, self.samples, seed)) if small and n else None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._kept is not None:
            return iter(self._kept)
        return resample_counts(self.n, self.samples, self.seed)


def resample_sums(stats: np.ndarray, resamples: Iterable[np.ndarray]) -> np.ndarray:
    """(samples x k): the column sums of `stats` (n x k) over each resample of its rows."""
    stats = np.asarray(stats, dtype=np.float64).reshape(len(stats), -1)
    chunks = [counts @ stats for counts in resamples]
    return np.concatenate(chunks) if chunks else np.empty((0, stats.shape[1]))


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the replicates.

    Replicates where the metric is undefined (NaN) are left out; none defined gives no interval.
    """
    values = np.asarray(replicates, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return None, None
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def interval(
    stats: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    resamples: Resamples,
    confidence: float,
) -> tuple[float | None, float | None]:
    """Percentile interval of `statistic` (row-wise on resampled sums); none without resamples."""
    if resamples.samples == 0 or resamples.n == 0:
        return None, None
    return percentile_interval(statistic(resample_sums(stats, resamples)), confidence)


def mean_statistic(n: int, scale: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """The mean of a per-example score (times `scale`) from resampled sums of it."""
    return lambda sums: sums[:, 0] * (scale / n)


def perplexity_statistic(sums: np.ndarray) -> np.ndarray:
    """exp(sum of nll / sum of tokens), from sums of [nll, tokens]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(sums[:, 0] / sums[:, 1])


# --- BLEU -----------------------------------------------------------------------------------


def sacrebleu_score(
    sums: np.ndarray,
    *,
    max_order: int = 4,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> np.ndarray:
    """`sacrebleu.BLEU.compute_bleu` (0 to 100) on each row of summed BLEU statistics."""
    sums = np.atleast_2d(np.asarray(sums, dtype=np.float64))
    if smooth_value is None:
        smooth_value = {"floor": 0.1, "add-k": 1}.get(smooth_method)
    rows = len(sums)
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct = sums[:, 2 : 2 + max_order].copy()
    total = sums[:, 2 + max_order : 2 + 2 * max_order].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
        any_correct = (correct != 0).any(axis=1)
        precisions = np.zeros((rows, max_order))
        alive = np.ones(rows, dtype=bool)
        eff_order = np.full(rows, max_order)
        smooth_mteval = np.ones(rows)
        for k in range(max_order):
            if smooth_method == "add-k" and k > 0:
                correct[:, k] += smooth_value
                total[:, k] += smooth_value
            alive &= total[:, k] != 0
            if effective_order:
                eff_order = np.where(alive, k + 1, eff_order)
            zero = alive & (correct[:, k] == 0)
            if smooth_method == "exp":
                smooth_mteval = np.where(zero, smooth_mteval * 2, smooth_mteval)
                when_zero = 100.0 / (smooth_mteval * total[:, k])
            elif smooth_method == "floor":
                when_zero = 100.0 * smooth_value / total[:, k]
            else:
                when_zero = np.zeros(rows)
            when_nonzero = 100.0 * correct[:, k] / total[:, k]
            precisions[:, k] = np.where(alive, np.where(zero, when_zero, when_nonzero), 0.0)
        log_sum = np.zeros(rows)
        for k in range(max_order):
            p = precisions[:, k]
            log_p = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), _MY_LOG_ZERO)
            log_sum = log_sum + np.where(k < eff_order, log_p, 0.0)
        score = bp * np.exp(log_sum / eff_order)
    return np.where(any_correct, score, 0.0)


def hub_bleu_score(sums: np.ndarray, *, max_order: int = 4, smooth: bool = False) -> np.ndarray:
    """The Hub `bleu` module's formula (0 to 1) on each row of summed BLEU statistics."""
    sums = np.atleast_2d(np.asarray(sums, dtype=np.float64))
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    matches = sums[:, 2 : 2 + max_order]
    possible = sums[:, 2 + max_order : 2 + 2 * max_order]
    with np.errstate(divide="ignore", invalid="ignore"):
        if smooth:
            precisions = (matches + 1.0) / (possible + 1.0)
        else:
            precisions = np.where(possible > 0, matches / possible, 0.0)
        positive = precisions.min(axis=1) > 0
        log_sum = np.zeros(len(sums))
        for k in range(max_order):
            p = precisions[:, k]
            log_sum = log_sum + (1.0 / max_order) * np.log(np.where(positive, p, 1.0))
        geo_mean = np.where(positive, np.exp(log_sum), 0.0)
        ratio = np.where((ref_len > 0) & (sys_len > 0), sys_len / ref_len, 0.0)
        bp = np.where(ratio > 1.0, 1.0, np.where(ratio > 0, np.exp(1 - 1.0 / ratio), 0.0))
    return geo_mean * bp


# --- chrF -----------------------------------------------------------------------------------


def chrf_score(
    sums: np.ndarray, *, char_order: int = 6, word_order: int = 0, beta: int = 2, eps_smoothing: bool = False
) -> np.ndarray:
    """`sacrebleu.CHRF._compute_f_score` (0 to 100) on each row of summed chrF statistics."""
    sums = np.atleast_2d(np.asarray(sums, dtype=np.float64))
    order = char_order + word_order
    rows = len(sums)
    eps = 1e-16
    factor = beta**2
    score = np.zeros(rows)
    avg_prec = np.zeros(rows)
    avg_rec = np.zeros(rows)
    effective = np.zeros(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):
            n_hyp, n_ref, n_match = sums[:, 3 * i], sums[:, 3 * i + 1], sums[:, 3 * i + 2]
            prec = np.where(n_hyp > 0, n_match / n_hyp, eps)
            rec = np.where(n_ref > 0, n_match / n_ref, eps)
            denom = factor * prec + rec
            score = score + np.where(denom > 0, (1 + factor) * prec * rec / denom, eps)
            valid = (n_hyp > 0) & (n_ref > 0)
            avg_prec = avg_prec + np.where(valid, prec, 0.0)
            avg_rec = avg_rec + np.where(valid, rec, 0.0)
            effective += valid
        if eps_smoothing:
            return 100 * score / order
        avg_prec = np.where(effective > 0, avg_prec / effective, 0.0)
        avg_rec = np.where(effective > 0, avg_rec / effective, 0.0)
        f = (1 + factor) * avg_prec * avg_rec
        f = f / ((factor * avg_prec) + avg_rec)
    return np.where(avg_prec + avg_rec > 0, 100 * f, 0.0)


# --- F1 -------------------------------------------------------------------------------------


def f1_score(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, average: str, pos: int | None = None
) -> np.ndarray:
    """F1 per row from per-class counts (rows x classes), as the `f1` module averages it.

    A class with no true, predicted or missed example in a row is not in that row's label set.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if average == "micro":
            tp, fp, fn = (
                tp.sum(axis=1, keepdims=True),
                fp.sum(axis=1, keepdims=True),
                fn.sum(axis=1, keepdims=True),
            )
        denominator = 2 * tp + fp + fn
        present = denominator > 0
        per_class = np.where(present, 2 * tp / np.where(present, denominator, 1.0), 0.0)
        if average == "micro":
            return per_class[:, 0]
        if average == "binary":
            return per_class[:, pos] if pos is not None else np.zeros(len(tp))
        if average == "weighted":
            support = tp + fn
            total = support.sum(axis=1)
            return np.where(total > 0, (per_class * support).sum(axis=1) / np.where(total > 0, total, 1), 0.0)
        classes = present.sum(axis=1)
        return np.where(classes > 0, per_class.sum(axis=1) / np.maximum(classes, 1), 0.0)


def f1_interval(
    reference_ids: np.ndarray,
    prediction_ids: np.ndarray,
    n_labels: int,
    average: str,
    pos: int | None,
    resamples: Resamples,
    confidence: float,
) -> tuple[float | None, float | None]:
    """Percentile interval of F1: per resample, TP/FP/FN per class by segmented sums of the counts.

    Each example adds to one class's TP (correct) or to one class's FN and another's FP (wrong).
    Columns are sorted by class once; `np.add.reduceat` then sums each class's columns of a chunk
    of counts, so the cost is O(samples x n) whatever the number of labels (generated labels can
    be many distinct strings).
    """
    if resamples.samples == 0 or resamples.n == 0:
        return None, None
    correct = reference_ids == prediction_ids
    groups = [
        np.where(correct, reference_ids, -1),  # TP
        np.where(correct, -1, prediction_ids),  # FP
        np.where(correct, -1, reference_ids),  # FN
    ]
    plans = []
    for group in groups:
        columns = np.flatnonzero(group >= 0)
        order = columns[np.argsort(group[columns], kind="stable")]
        sorted_groups = group[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]) if order.size else order
        plans.append((order, sorted_groups[starts] if order.size else order, starts))
    replicates = []
    for counts in resamples:
        per_class = np.zeros((3, len(counts), n_labels))
        for j, (order, classes, starts) in enumerate(plans):
            if order.size:
                per_class[j][:, classes] = np.add.reduceat(counts[:, order], starts, axis=1)
        replicates.append(f1_score(per_class[0], per_class[1], per_class[2], average, pos))
    return percentile_interval(np.concatenate(replicates), confidence)
