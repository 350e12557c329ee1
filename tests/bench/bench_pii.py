"""PII redaction throughput, and a guard against regexes that backtrack quadratically.

    .venv/bin/python tests/bench/bench_pii.py [--records 20000]

Three inputs: the labeled tickets (short, most with PII), clean ~600-character paragraphs (what
most of a training set looks like) and adversarial 50,000-character strings (long runs of
digits, dots, colons, `@`, PEM markers) that a careless pattern turns into seconds per record.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from llmops.pii.detect import redact

ROOT = Path(__file__).resolve().parents[2]
LABELED = ROOT / "tests" / "fixtures" / "pii" / "labeled.jsonl"
PARAGRAPH = (
    "the customer reported that our service was slow after the update and asked whether "
    "the invoice for march includes the new plan version 2.10.3 released on 2024-03-15 at "
    "14:30 with 1,299 users and order #A-10293 shipped total $1,299.00 please reset password"
)
WORDS = PARAGRAPH.split()
ADVERSARIAL = {
    "digits": "1" * 50_000,
    "grouped digits": "1234 " * 10_000,
    "dots": "1." * 25_000,
    "dotted words": "a.b.c.d." * 6_250,
    "at signs": "a@" * 25_000,
    "domain": "x@" + "a." * 25_000,
    "colons": "ab:" * 16_000,
    "pem markers": "-----BEGIN PRIVATE KEY-----\n" * 1_800,
    "jwt-ish": "eyJabc." * 7_000,
    "key words": "password token " * 3_300,
}


def rate(texts: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    for text in texts:
        redact(text)
    elapsed = time.perf_counter() - start
    return len(texts) / elapsed, sum(map(len, texts)) / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    records = parser.parse_args().records
    rng = random.Random(0)
    tickets = [json.loads(line)["text"] for line in LABELED.read_text(encoding="utf-8").splitlines()]
    tickets = [rng.choice(tickets) for _ in range(records)]
    clean = [" ".join(rng.choice(WORDS) for _ in range(100)) for _ in range(records // 4)]
    for name, texts in (("labeled tickets", tickets), ("clean paragraphs", clean)):
        per_second, mb = rate(texts)
        print(f"{name:18} {per_second:10,.0f} records/s  {mb:6.2f} MB/s")
    for name, text in ADVERSARIAL.items():
        start = time.perf_counter()
        redact(text)
        elapsed = time.perf_counter() - start
        flag = "  <- too slow" if elapsed > 0.5 else ""
        print(f"adversarial {name:15} {len(text):7,} chars {1000 * elapsed:8.1f} ms{flag}")


if __name__ == "__main__":
    main()
