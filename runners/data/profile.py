"""The numbers that describe a finished dataset: what a person should look at before training on it.

`build_profile` turns the final splits and the cleaning counters into one JSON-able dict that the
report and the plots are drawn from. It is pure and deterministic (every tie is broken by the text,
percentiles use exact integer positions), so rerunning the stage on the same data gives the same
bytes and DVC sees no change. `metrics_from_profile` keeps the few numbers worth comparing between
runs with `dvc metrics diff`; the rest stays in the report, where a person reads it.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from llmops.pii.detect import redact
from llmops.runners.data.text import Record, as_text, key, tokens

Z_OUTLIER = 3.0
EXAMPLES = 10
TOP_NGRAMS = 20
MIN_NGRAM_COUNT = 2
# n-grams are counted on at most this many records (a sample fixed by each text's hash): the
# counters grow with every distinct trigram, and a top-20 list is stable long before a million rows.
NGRAM_SAMPLE = 10_000
NGRAM_SIZES = (1, 2, 3)
TEXT_KEPT = 200
PERCENTILES = (50, 90, 99)

# Words too common to say anything about a dataset: unigrams drop them, and an n-gram made of
# nothing else is dropped too ("of the"), so the top lists show what the data is about.
_STOPWORD_TEXT = """
    a about after all also am an and any are as at be been before being but by can could did do
    does doing don't for from had has have having he her here hers him his how i i'm if in into is
    it it's its just me more most my no nor not of off on once only or other our ours out over own
    same she should so some such than that that's the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom why
    will with would you you're your yours
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# UTF-8 bytes read as cp1252 or Latin-1: "é" -> "Ã©", "’" -> "â€™", a no-break space -> "Â ", a
# byte-order mark -> "ï»¿". Real text almost never holds these pairs.
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_RARE = {
    "control": re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"),
    "private_use": re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]"),
    "replacement": re.compile("\ufffd"),
    "surrogate": re.compile("[\ud800-\udfff]"),
    "mojibake": re.compile(f"[ÃÂ][\u0080-\u00bf{_CP1252_HIGH}]|â€|â\u0080|ï»¿"),
}
# The kinds that mean the bytes were decoded wrongly somewhere, not just unusual characters.
ENCODING_KINDS = ("replacement", "surrogate", "mojibake")
# One character class that every kind above needs: most texts are ruled out by a single scan.
_ANY_RARE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufffd\U000f0000-\U0010fffdÃÂâï]"
)


def build_profile(
    splits: dict[str, list[Record]],
    text_column: str,
    label_column: str | None,
    steps: list[Any],
    pii_found: Counter[str] | None = None,
    near_duplicate_rate: float | None = None,
    rows_read: int | None = None,
) -> dict[str, Any]:
    """Everything the report shows, from the final splits and the cleaning counters (`StepCount`).

    `rows_read` defaults to what entered the first cleaning step (or the rows kept, with no
    cleaning). PII counts come from the caller or, failing that, from a `pii-redact` step's `found`.
    """
    texts = {name: [as_text(record.get(text_column)) for record in rows] for name, rows in splits.items()}
    every = [(text, name) for name, items in texts.items() for text in items]
    total = len(every)
    chars = {name: [len(text) for text in items] for name, items in texts.items()}
    counts = {name: [tokens(text) for text in items] for name, items in texts.items()}
    all_chars = [n for items in chars.values() for n in items]
    all_words = [n for items in counts.values() for n in items]
    keys = [key(text) for text, _ in every]
    sample = heapq.nsmallest(NGRAM_SAMPLE, (text for text, _ in every), key=_hash_order)
    duplicates = total - len(set(keys))
    if pii_found is None:
        found = [step.found for step in steps if step.step == "pii-redact"]
        pii_found = sum(found, Counter()) if found else None
    if rows_read is None:
        rows_read = steps[0].rows_in if steps else total
    return {
        "text_column": text_column,
        "label_column": label_column,
        "rows_read": rows_read,
        "rows": total,
        "splits": {name: len(rows) for name, rows in splits.items()},
        "cleaning": [_step(step, text_column) for step in steps],
        "length": {
            "chars": {"all": stats(all_chars)} | {name: stats(v) for name, v in chars.items()},
            "tokens": {"all": stats(all_words)} | {name: stats(v) for name, v in counts.items()},
        },
        "histogram": {"chars": histogram(all_chars), "tokens": histogram(all_words)},
        "duplicates": {
            "exact": duplicates,
            "exact_rate": round(duplicates / total, 6) if total else 0.0,
            "near_rate": None if near_duplicate_rate is None else round(float(near_duplicate_rate), 6),
        },
        "labels": _labels(splits, label_column) if label_column else None,
        "outliers": outliers(every),
        "characters": rare_characters(every),
        "ngrams": {str(n): _top(grams, TOP_NGRAMS) for n, grams in ngram_counts(sample, NGRAM_SIZES).items()},
        "ngram_records": len(sample),
        "pii_found": None if pii_found is None else {k: int(v) for k, v in sorted(pii_found.items())},
    }


def metrics_from_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile's numbers worth a `dvc metrics diff`: every leaf is a number.

    Label counts go under `label_counts` (per split), not `labels`, which the stage's metrics
    already use for the labelling counters; absent measurements (no PII step, no near-dup step,
    no labels) are left out rather than written as null, which `dvc metrics` cannot compare.
    """
    keep = ("min", "mean", "p50", "p90", "p99", "max")
    length = profile["length"]
    document: dict[str, Any] = {
        "length_chars": {k: length["chars"]["all"][k] for k in keep},
        "length_tokens": {k: length["tokens"]["all"][k] for k in keep},
        "outliers": profile["outliers"]["count"],
        "encoding_problems": profile["characters"]["encoding_problems"],
        "rare_characters": profile["characters"]["records"],
        "exact_duplicates": profile["duplicates"]["exact"],
    }
    if profile["duplicates"]["near_rate"] is not None:
        document["near_duplicate_rate"] = profile["duplicates"]["near_rate"]
    if profile["labels"] is not None:
        counts = profile["labels"]["counts"]
        document["label_counts"] = {split: dict(counts[split]) for split in counts if split != "all"}
    if profile["pii_found"] is not None:
        document["pii_found"] = dict(profile["pii_found"])
    return document


def stats(values: list[int]) -> dict[str, Any]:
    """min, max, mean, population std and linear-interpolated percentiles (numpy's default method).

    Percentile positions are computed in integers, so p90 of ten values never lands on
    9.000000000000002 and flips a bin between machines.
    """
    if not values:
        return {"count": 0, "min": 0, "max": 0, "mean": 0.0, "std": 0.0} | {f"p{q}": 0.0 for q in PERCENTILES}
    ordered = sorted(values)
    n = len(ordered)
    mean = sum(ordered) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / n)
    result: dict[str, Any] = {"count": n, "min": ordered[0], "max": ordered[-1], "mean": round(mean, 3)}
    for q in PERCENTILES:
        low, rest = divmod(q * (n - 1), 100)
        high = min(low + 1, n - 1)
        result[f"p{q}"] = round(ordered[low] + (ordered[high] - ordered[low]) * rest / 100, 3)
    result["std"] = round(std, 3)
    return result


def histogram(values: list[int]) -> list[dict[str, Any]]:
    """Counts in power-of-two bins (0, 1, 2-3, 4-7, ...) from the lowest used bin to the highest.

    Lengths are heavy-tailed, so doubling bins keep both the short and the long texts visible,
    and the edges depend on no statistic of the data: two runs' histograms line up bin for bin.
    """
    if not values:
        return []
    counts = Counter(v.bit_length() for v in values)
    rows = []
    for b in range(min(counts), max(counts) + 1):
        lower, upper = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
        label = str(lower) if lower == upper else f"{lower}-{upper}"
        rows.append({"bin": label, "lower": lower, "upper": upper, "count": counts.get(b, 0)})
    return rows


def outliers(every: list[tuple[str, str]]) -> dict[str, Any]:
    """Records whose character length is more than 3 standard deviations from the mean.

    With n records the largest possible z-score is sqrt(n - 1), so below 11 records there are none.
    """
    lengths = [len(text) for text, _ in every]
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in lengths) / len(lengths)) if lengths else 0.0
    found = []
    if std > 0:
        for text, split in every:
            z = (len(text) - mean) / std
            if abs(z) > Z_OUTLIER:
                found.append((-abs(z), text, split, z))
    chosen = heapq.nsmallest(EXAMPLES, found)
    return {
        "z_threshold": Z_OUTLIER,
        "mean": round(mean, 3),
        "std": round(std, 3),
        "count": len(found),
        "examples": [
            {"split": split, "chars": len(text), "z": round(z, 3), "text": _clip(text)}
            for _, text, split, z in chosen
        ],
    }


def rare_characters(every: list[tuple[str, str]]) -> dict[str, Any]:
    """Records holding control, private-use, replacement or surrogate characters, or mojibake.

    `encoding_problems` counts the records with signs of a wrong decoding (see ENCODING_KINDS):
    those are worth fixing at the source rather than filtering.
    """
    by_kind: Counter[str] = Counter()
    flagged: list[tuple[str, str, list[str]]] = []
    problems = 0
    for text, split in every:
        if not _ANY_RARE.search(text):
            continue
        kinds = [kind for kind, pattern in _RARE.items() if pattern.search(text)]
        if kinds:
            by_kind.update(kinds)
            flagged.append((text, split, kinds))
            problems += any(kind in ENCODING_KINDS for kind in kinds)
    chosen = heapq.nsmallest(EXAMPLES, flagged)
    return {
        "records": len(flagged),
        "encoding_problems": problems,
        "by_kind": {kind: by_kind.get(kind, 0) for kind in _RARE},
        "examples": [{"split": split, "kinds": kinds, "text": _clip(text)} for text, split, kinds in chosen],
    }


def words(text: str) -> list[str]:
    """Lowercased words: letters and digits, with inner apostrophes kept ("don't")."""
    return _WORD.findall(text.lower())


def top_ngrams(texts: Iterable[str], n: int, top: int = TOP_NGRAMS) -> list[dict[str, Any]]:
    """The most frequent word n-grams of `texts`, ties broken alphabetically (see `_top`)."""
    return _top(ngram_counts(texts, (n,))[n], top)


def ngram_counts(texts: Iterable[str], sizes: Iterable[int]) -> dict[int, Counter[tuple[str, ...]]]:
    """Occurrences of every word n-gram of each size, tokenizing each text once."""
    counts: dict[int, Counter[tuple[str, ...]]] = {n: Counter() for n in sizes}
    for text in texts:
        items = words(text)
        for n, counter in counts.items():
            counter.update(zip(*(items[i:] for i in range(n)), strict=False))
    return counts


def _top(counts: Counter[tuple[str, ...]], top: int) -> list[dict[str, Any]]:
    """The `top` n-grams by count, then alphabetically.

    N-grams made only of stopwords and bare numbers ("of the", "2 of") are left out: they top
    every corpus and say nothing about this one. So are n-grams seen once: they are noise, and
    in data nobody redacted they are where a name or a card number would surface.
    """
    kept = (
        (-count, " ".join(gram))
        for gram, count in counts.items()
        if count >= MIN_NGRAM_COUNT and not all(word in STOPWORDS or word.isdigit() for word in gram)
    )
    return [{"ngram": gram, "count": -negative} for negative, gram in heapq.nsmallest(top, kept)]


def _hash_order(text: str) -> tuple[bytes, str]:
    """A fixed pseudo-random order of texts, whatever order they came in."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), text


def _labels(splits: dict[str, list[Record]], column: str) -> dict[str, Any]:
    """Counts and shares per split, with every label in every split (a 0 is the finding)."""
    counts = {name: Counter(as_text(record.get(column)) for record in rows) for name, rows in splits.items()}
    overall = sum(counts.values(), Counter())
    labels = sorted(overall)
    table = {"all": overall} | counts
    return {
        "column": column,
        "labels": labels,
        "counts": {name: {label: c.get(label, 0) for label in labels} for name, c in table.items()},
        "shares": {
            name: {label: round(c.get(label, 0) / sum(c.values()), 4) if c else 0.0 for label in labels}
            for name, c in table.items()
        },
    }


def _step(step: Any, text_column: str) -> dict[str, Any]:
    """One cleaning step's counters, with the dropped samples reduced to their text and source."""
    return {
        "position": step.position,
        "step": step.step,
        "name": step.name,
        "rows_in": step.rows_in,
        "rows_out": step.rows_out,
        "dropped": step.dropped,
        "changed": step.changed,
        "reasons": {k: int(v) for k, v in sorted(step.reasons.items(), key=lambda kv: (-kv[1], kv[0]))},
        "found": {k: int(v) for k, v in sorted(step.found.items())},
        "samples": [
            {
                "reason": sample["reason"],
                "source": sample["record"].get("_source"),
                "text": _clip(as_text(sample["record"].get(text_column))),
            }
            for sample in step.samples
        ],
    }


def _clip(text: str) -> str:
    """An example as the report shows it: PII redacted, then at most TEXT_KEPT characters.

    The report is read (and often committed) far from the data, and dropped samples are taken
    before any `pii-redact` step ran, so no example leaves here with an email or a card number in
    it. Redaction comes first so a clipped address is never half shown.
    """
    text = redact(text)[0]
    return text if len(text) <= TEXT_KEPT else text[: TEXT_KEPT - 1] + "…"
