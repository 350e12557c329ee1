"""Near-duplicate removal: MinHash of character shingles, banded LSH, verified Jaccard."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from datasketch import MinHash

from llmops.compiler.kinds.dataset import DedupNear
from llmops.errors import StageFailed
from llmops.runners.data import neardup
from llmops.runners.data.clean import StepCount
from llmops.runners.data.neardup import (
    RECALL,
    SEED,
    Sketch,
    lsh_params,
    near_dedup,
    near_duplicate_rate,
    shingle_hash,
    shingles,
)
from llmops.runners.data.text import key

BASE = (
    "Hello, I ordered a blue winter jacket from your online store last Tuesday and the tracking page "
    "still says the parcel is waiting at the depot. Could you tell me when it will be delivered to my "
    "home address?"
)
ONE_WORD = BASE.replace("blue", "green")  # Jaccard of the 5-gram sets: 0.92
PUNCTUATION = BASE.replace("Hello,", "Hello").replace("?", "!")  # 0.95
TWO_WORDS = ONE_WORD.replace("Tuesday", "Friday")  # 0.85
SAME_TOPIC = (
    "Hello, I ordered a red summer dress from your online shop last Monday and the tracking page says "
    "it was delivered, but nothing arrived. Could you check with the courier what happened to it?"
)  # 0.25
OTHER = (
    "Hi, I would like to cancel my monthly subscription because I no longer use the service. Please "
    "confirm by email once it is done and refund the last payment if possible."
)


def dropped(count: StepCount) -> list[tuple[dict, str]]:
    """(record, reason) of what the step dropped, from the stage's own counter."""
    return [(sample["record"], sample["reason"]) for sample in count.samples]


def step(**kw) -> DedupNear:
    return DedupNear(step="dedup-near", **kw)


def run(texts: list[str], **kw) -> tuple[list[str], StepCount]:
    tally = StepCount(1, "dedup-near")
    rows = [{"text": t, "_source": i % 2} for i, t in enumerate(texts)]
    kept = [r["text"] for r in near_dedup(rows, "text", step(**kw), tally)]
    return kept, tally


def exact_jaccard(a: str, b: str, size: int = 5) -> float:
    x, y = set(shingles(key(a), size)), set(shingles(key(b), size))
    return len(x & y) / len(x | y)


def test_the_samples_are_what_their_names_say():
    assert exact_jaccard(BASE, ONE_WORD) == pytest.approx(0.918, abs=0.005)
    assert exact_jaccard(BASE, PUNCTUATION) == pytest.approx(0.946, abs=0.005)
    assert exact_jaccard(BASE, TWO_WORDS) == pytest.approx(0.851, abs=0.005)
    assert exact_jaccard(BASE, SAME_TOPIC) < 0.3


@pytest.mark.parametrize("variant", [ONE_WORD, PUNCTUATION, BASE.upper(), BASE.replace(" ", "  \n ")])
def test_a_near_duplicate_is_dropped_and_the_first_kept(variant):
    kept, tally = run([BASE, OTHER, variant])
    assert kept == [BASE, OTHER]
    [(record, reason)] = dropped(tally)
    assert record["text"] == variant
    assert re.fullmatch(r"near duplicate \(jaccard (0\.[89]\d|1\.00)\) of a record from source 0", reason)


def test_order_decides_which_one_is_kept():
    kept, tally = run([ONE_WORD, BASE, PUNCTUATION])
    assert kept == [ONE_WORD]
    assert [r["text"] for r, _ in dropped(tally)] == [BASE, PUNCTUATION]


def test_different_texts_on_the_same_topic_are_kept():
    texts = [BASE, SAME_TOPIC, OTHER, BASE[:120]]
    kept, tally = run(texts)
    assert kept == texts and not dropped(tally)


def test_threshold():
    assert run([BASE, TWO_WORDS], threshold=0.7)[0] == [BASE]
    assert run([BASE, TWO_WORDS], threshold=0.95)[0] == [BASE, TWO_WORDS]
    assert run([BASE, BASE.upper()], threshold=1.0)[0] == [BASE]
    assert run([BASE, ONE_WORD], threshold=1.0)[0] == [BASE, ONE_WORD]


def test_reason_names_the_estimate_and_the_source_of_the_kept_record():
    tally = StepCount(1, "dedup-near")
    rows = [{"text": OTHER, "_source": 0}, {"text": BASE, "_source": 3}, {"text": ONE_WORD, "_source": 0}]
    list(near_dedup(rows, "text", step(), tally))
    a, b = (MinHash(num_perm=128, seed=SEED, hashfunc=lambda s: shingle_hash(s, 5)) for _ in range(2))
    a.update_batch(shingles(key(BASE), 5))
    b.update_batch(shingles(key(ONE_WORD), 5))
    assert dropped(tally)[0][1] == f"near duplicate (jaccard {a.jaccard(b):.2f}) of a record from source 3"
    rows = [{"text": BASE}, {"text": ONE_WORD}]
    tally = StepCount(1, "dedup-near")
    list(near_dedup(rows, "text", step(), tally))
    assert dropped(tally)[0][1].endswith("of an earlier record")


def test_shingle_size_and_permutations_are_honoured():
    # one changed word in a short text: close with 2-grams, far with 8-grams
    a, b = "please reset my password now", "please reset my passwort now"
    assert run([a, b], shingle=2, threshold=0.8)[0] == [a]
    assert run([a, b], shingle=8, threshold=0.8)[0] == [a, b]
    assert run([BASE, ONE_WORD], num_perm=16)[0] == [BASE]


def test_empty_and_short_texts():
    kept, tally = run(["", "  ", "ok", "OK", "ok!", "hi"])
    assert kept == ["", "  ", "ok", "ok!", "hi"]  # empty texts pass through; "OK" is "ok"
    assert [r["text"] for r, _ in dropped(tally)] == ["OK"]


def test_other_columns_and_values():
    rows = [{"q": {"a": 1}, "_source": 0}, {"q": {"a": 1}, "_source": 0}, {"q": None}, {"q": None}]
    assert len(list(near_dedup(rows, "q", step(), StepCount(1, "dedup-near")))) == 3  # None is empty: passes
    with pytest.raises(StageFailed, match=r"step 2 \(dedup-near\): a record from source 0 has no column 'q'"):
        list(
            near_dedup(
                [{"text": "x", "_source": 0}],
                "q",
                step(),
                StepCount(1, "dedup-near"),
                where="step 2 (dedup-near)",
            )
        )


def test_settings_are_checked_before_any_row_is_read():
    def rows():
        raise AssertionError("read too early")
        yield {}

    stream = near_dedup(rows(), "text", step(), StepCount(1, "dedup-near"))
    with pytest.raises(AssertionError):
        next(stream)


def test_same_output_every_run_and_every_process():
    texts = corpus(300, seed=7)
    first = run(texts)
    second = run(texts)
    assert first[0] == second[0]
    assert [r for _, r in dropped(first[1])] == [r for _, r in dropped(second[1])]
    code = (
        "import json, sys\n"
        "from llmops.compiler.kinds.dataset import DedupNear\n"
        "from llmops.runners.data.neardup import near_dedup\n"
        "class T:\n    found = {}\n    def drop(self, r, why): pass\n"
        "texts = json.load(sys.stdin)\n"
        "rows = [{'text': t} for t in texts]\n"
        "kept = near_dedup(rows, 'text', DedupNear(step='dedup-near'), T())\n"
        "print(json.dumps([r['text'] for r in kept]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout) == first[0]


def test_signatures_are_datasketch_minhash():
    texts = [
        key(BASE),
        "hi",
        "",
        "パスワードをリセットしたいです",
        "x\ud800 lone surrogate",
        "abcde",
        "abcdef" * 3000,  # spans several blocks
    ]
    for num_perm, size in [(128, 5), (16, 1), (64, 3), (256, 9)]:
        sketch = Sketch(num_perm, size)
        sketch.block = 1000  # force texts across blocks
        for text, row in zip(texts, sketch.signatures(texts), strict=True):
            expected = MinHash(num_perm=num_perm, seed=SEED, hashfunc=lambda s, n=size: shingle_hash(s, n))
            expected.update_batch(shingles(text, size))
            assert np.array_equal(row, expected.hashvalues), (num_perm, size, text[:20])


@pytest.mark.parametrize("merge_at", [64, 10**9])  # merged every chunk / never
def test_matches_brute_force_over_datasketch_minhash(monkeypatch, merge_at):
    """Across chunks, with or without index merges, the result is what comparing every record
    with every kept one by `MinHash.jaccard` gives."""
    monkeypatch.setattr(neardup, "CHUNK", 37)
    monkeypatch.setattr(neardup, "MERGE_AT", merge_at)
    texts = corpus(600, seed=3)
    kept, tally = run(texts, threshold=0.8)
    expected: list[str] = []
    hashes: list[MinHash] = []
    for text in texts:
        m = MinHash(num_perm=128, seed=SEED, hashfunc=lambda s: shingle_hash(s, 5))
        m.update_batch(shingles(key(text), 5))
        if all(m.jaccard(other) < 0.8 for other in hashes):
            hashes.append(m)
            expected.append(text)
    assert kept == expected
    assert 40 < sum(tally.reasons.values()) < 200


def test_near_duplicate_rate():
    assert near_duplicate_rate([]) == 0.0
    assert near_duplicate_rate([BASE, OTHER, ONE_WORD, SAME_TOPIC, BASE.lower()]) == 0.4
    assert near_duplicate_rate([BASE, TWO_WORDS], threshold=0.95) == 0.0


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.85, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("num_perm", [16, 128, 1024])
def test_lsh_params_favour_recall(threshold, num_perm):
    bands, rows = lsh_params(threshold, num_perm)
    assert bands * rows <= num_perm
    if 1 - (1 - threshold) ** num_perm >= RECALL:  # reachable at all
        assert 1 - (1 - threshold**rows) ** bands >= RECALL


VOCABULARY = (
    "account password reset order refund invoice parcel delivery email login error payment card "
    "subscription cancel address phone help please thanks issue working since yesterday week"
)


def corpus(n: int, seed: int) -> list[str]:
    """Support-like texts; about a fifth rewrite an earlier one by a word or two."""
    rng = random.Random(seed)
    words = VOCABULARY.split() + [f"item{i}" for i in range(400)]
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.2:
            tokens = rng.choice(texts).split()
            for _ in range(rng.randint(0, 2)):
                tokens[rng.randrange(len(tokens))] = rng.choice(words)
            texts.append(" ".join(tokens))
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(12, 40))))
    return texts
