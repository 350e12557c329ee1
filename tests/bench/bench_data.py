"""Data stage benchmark: llmops' streaming cleaning against a plain pandas + datasketch script.

    .venv/bin/python tests/bench/bench_data.py [--records 1000000] [--only llmops] [--keep DIR]

It writes a JSONL file of support-like texts (templates filled with random words; about 5% exact
duplicates, some differing only in case or spacing, and 5% near duplicates: a word changed or
the punctuation edited), then runs each approach in its own subprocess, so its peak memory
(`ru_maxrss` of that child) is its own:

- llmops: `sources.read_sources` -> `clean.clean` with normalize and dedup-exact ->
  `neardup.near_dedup` (threshold 0.85, 128 permutations, 5-grams) -> JSONL, streaming.
- baseline: the same steps the straightforward way: `pandas.read_json(lines=True)`, str methods
  for the normalization, `drop_duplicates` on the casefolded text, then datasketch's `MinHash`
  (`MinHash.generator` over the 5-gram shingles) and `MinHashLSH` (threshold 0.85), `to_json`.

Goal: llmops faster than the baseline, under 2 GB peak at 1,000,000 records. Needs pandas
(bench only: `pip install pandas`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATES = [
    "Hi, I ordered {a} {product} on {day} and it still has not arrived. The tracking number is {num}. {ask}",
    "Hello, my {product} stopped working after {n} days. It {issue} every time I {action}. {ask}",
    "I was charged twice for order #{num}. Please refund the second payment of {n}.{n2} {cur}. {thanks}",
    "How do I change the {setting} on my account? I tried the {place} page but {issue2}. {thanks}",
    "The app {issue} when I {action} on my {device}. Version {n}.{n2}.{n3}. {ask}",
    "Can I return {a} {product} I bought {when}? The {part} is {defect} and {extra}. {ask}",
    "My password reset email never arrives. I checked the {place} folder and {issue2}. Account {num}.",
    "Please cancel my {plan} subscription from {day}. {reason} {thanks}",
    "Is {a} {product} compatible with the {device}? I need it for {purpose} and {extra}. {thanks}",
    "Your courier left my parcel at {place2} and now it is gone. Order {num}, delivered {when}. {ask}",
    "I get error {code} when I try to {action} with my {card} card. {issue2}. {ask}",
    "Thanks for the quick help with order {num}! The {product} works fine now and {extra}.",
]
PRODUCTS = (
    "jacket kettle blender router headset monitor keyboard lamp backpack watch speaker camera "
    "charger printer mattress vacuum drill tent stroller scooter"
)
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
FILL = {
    "a": ["a", "the", "one", "a new", "a second"],
    "product": PRODUCTS.split(),
    "day": DAYS.split(),
    "ask": [
        "Could you check what happened?",
        "Can you help me?",
        "What should I do now?",
        "Please advise.",
        "I would like a replacement.",
        "Can someone call me back?",
    ],
    "issue": ["freezes", "crashes", "restarts", "beeps loudly", "shuts down", "shows a blank screen"],
    "issue2": ["nothing happens", "it shows an error", "the page never loads", "the button is greyed out"],
    "action": ["open it", "log in", "pay", "upload a photo", "sync my data", "press start"],
    "cur": ["EUR", "USD", "GBP"],
    "thanks": ["Thanks.", "Thank you!", "Many thanks in advance.", "Regards.", "Cheers."],
    "setting": ["email address", "phone number", "delivery address", "language", "billing details"],
    "place": ["settings", "profile", "spam", "help", "billing"],
    "place2": ["the wrong door", "my neighbour", "the reception", "a pickup point"],
    "device": ["iPhone", "Android phone", "tablet", "laptop", "smart TV", "desktop"],
    "when": ["last week", "two weeks ago", "yesterday", "in March", "a month ago"],
    "part": ["zip", "handle", "screen", "cable", "lid", "strap"],
    "defect": ["broken", "scratched", "missing", "loose", "cracked"],
    "plan": ["monthly", "yearly", "family", "premium"],
    "reason": [
        "I am moving abroad.",
        "It is too expensive.",
        "I do not use it anymore.",
        "I found another service.",
    ],
    "purpose": ["work", "travel", "my kids", "a gift", "the office"],
    "card": ["Visa", "Mastercard", "Amex", "debit"],
}
WORDS = [
    f"{c}{v}{t}"
    for c in "bcdfgklmnprstvz"
    for v in "aeiou"
    for t in ["", "n", "r", "s", "l", "m", "ck", "st"]
]


def generate(path: Path, records: int, seed: int = 0) -> dict[str, int]:
    """Write `records` JSON lines; returns how many duplicates of each kind were planted."""
    rng = random.Random(seed)
    recent: list[str] = []
    planted = {"exact": 0, "near": 0}
    with open(path, "w", encoding="utf-8") as out:
        for i in range(records):
            roll = rng.random()
            if recent and roll < 0.05:
                text = rng.choice(recent)
                text = rng.choice([text, text, text.lower(), text.replace(" ", "  "), text + " "])
                planted["exact"] += 1
            elif recent and roll < 0.10:
                text = _near(rng.choice(recent), rng)
                planted["near"] += 1
            else:
                text = _fresh(rng)
            if len(recent) < 5000:
                recent.append(text)
            else:
                recent[rng.randrange(5000)] = text
            out.write(json.dumps({"id": i, "text": text, "label": f"topic{rng.randrange(12)}"}) + "\n")
    return planted


def _fresh(rng: random.Random) -> str:
    template = rng.choice(TEMPLATES)
    values = {name: rng.choice(options) for name, options in FILL.items()}
    values.update(
        num=str(rng.randrange(10**5, 10**7)),
        n=str(rng.randrange(1, 99)),
        n2=str(rng.randrange(10, 99)),
        n3=str(rng.randrange(0, 9)),
        code=f"E{rng.randrange(100, 999)}",
        extra=" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))),
    )
    tail = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 25)))
    return f"{template.format(**values)} {tail.capitalize()}."


def _near(text: str, rng: random.Random) -> str:
    tokens = text.split(" ")
    if rng.random() < 0.5:
        tokens[rng.randrange(len(tokens))] = rng.choice(WORDS)
    else:
        at = rng.randrange(len(tokens))
        tokens[at] = tokens[at].rstrip(".,!?") + rng.choice(["!", ",", "?", "..."])
    return " ".join(tokens)


def run_llmops(data: Path, out: Path) -> dict[str, int]:
    from llmops.compiler.kinds.dataset import Dataset, DedupExact, DedupNear, Normalize
    from llmops.runners.data.clean import StepCount, clean
    from llmops.runners.data.neardup import near_dedup
    from llmops.runners.data.sources import read_sources
    from llmops.runners.data.text import canonical

    spec = Dataset.model_validate(
        {"kind": "Dataset", "name": "bench", "sources": [{"path": data.name, "format": "jsonl"}]}
    )
    stream = read_sources(spec, {}, data.parent, [])
    stream, counts = clean(stream, [Normalize(step="normalize"), DedupExact(step="dedup-exact")], "text")
    near = StepCount(3, "dedup-near")
    kept = 0
    with open(out, "w", encoding="utf-8") as handle:
        for record in near_dedup(stream, "text", DedupNear(step="dedup-near"), near):
            handle.write(canonical(record) + "\n")
            kept += 1
    return {
        "read": counts[0].rows_in,
        "exact": counts[1].dropped,
        "near": sum(near.reasons.values()),
        "kept": kept,
    }


def run_baseline(data: Path, out: Path) -> dict[str, int]:
    import pandas as pd
    from datasketch import MinHash, MinHashLSH

    df = pd.read_json(data, lines=True)
    read = len(df)
    df["text"] = df["text"].str.normalize("NFKC").str.replace(r"\s+", " ", regex=True).str.strip()
    keys = df["text"].str.casefold()
    duplicated = keys.duplicated()
    df, keys = df[~duplicated], keys[~duplicated]
    lsh = MinHashLSH(threshold=0.85, num_perm=128)
    shingled = ([k[i : i + 5].encode("utf-8") for i in range(max(len(k) - 4, 1))] for k in keys)
    keep = []
    for i, minhash in enumerate(MinHash.generator(shingled, num_perm=128)):
        if lsh.query(minhash):
            keep.append(False)
        else:
            lsh.insert(i, minhash, check_duplication=False)
            keep.append(True)
    df[keep].to_json(out, orient="records", lines=True, force_ascii=False)
    return {"read": read, "exact": int(duplicated.sum()), "near": keep.count(False), "kept": sum(keep)}


def child(mode: str, data: Path, out: Path) -> tuple[float, float, dict[str, int]]:
    """Run one approach in a fresh interpreter: (wall seconds, peak MiB, its counts)."""
    start = time.perf_counter()
    command = [sys.executable, __file__, "--run", mode, "--input", str(data), "--output", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    report = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, json.loads(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["llmops", "baseline"])
    parser.add_argument("--keep", type=Path, help="write the data and outputs here and keep them")
    parser.add_argument("--run", choices=["llmops", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        runner = run_llmops if args.run == "llmops" else run_baseline
        print(json.dumps(runner(args.input, args.output)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="llmops-bench-data-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        data = folder / "data.jsonl"
        start = time.perf_counter()
        planted = generate(data, args.records)
        size = data.stat().st_size / 2**20
        print(
            f"{args.records:,} records, {size:,.0f} MiB ({planted['exact']:,} exact and {planted['near']:,} "
            f"near duplicates planted) in {time.perf_counter() - start:.1f} s"
        )
        modes = [args.only] if args.only else ["llmops", "baseline"]
        results = {}
        header = ("approach", "seconds", "records/s", "peak MiB", "exact", "near", "kept")
        print("{:10} {:>8} {:>10} {:>9} {:>8} {:>8} {:>10}".format(*header))
        for mode in modes:
            seconds, peak, counts = child(mode, data, folder / f"out-{mode}.jsonl")
            results[mode] = (seconds, peak)
            print(
                f"{mode:10} {seconds:8.1f} {args.records / seconds:10,.0f} {peak:9,.0f} "
                f"{counts['exact']:8,} {counts['near']:8,} {counts['kept']:10,}",
                flush=True,
            )
        if len(results) == 2:
            (ours, our_peak), (theirs, their_peak) = results["llmops"], results["baseline"]
            print(
                f"llmops / baseline: {theirs / ours:.2f}x the speed, "
                f"{our_peak / their_peak:.2f}x the peak memory "
                f"(goal: faster, under 2048 MiB: {'met' if ours < theirs and our_peak < 2048 else 'NOT met'})"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
