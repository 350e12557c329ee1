"""Write the example's seed preference pairs, `data/raw/support-preferences.jsonl`.

The loop needs preference data before the first human feedback arrives, as a real team would
start from pairs its reviewers wrote. These are made from the support Dataset's *train* split
only (so the held-out questions the judged eval reads stay unseen): for each question, the
reference answer is `chosen` and `rejected` is the kind of output a tiny model drifts into and a
rouge gate lets through: the answer collapsing into a repeated word ("of of of"), or stuttering
(words doubled). Not another question's answer: that answer is `chosen` for its own question, so
the pair would teach the model to dislike text it must produce elsewhere. Deterministic: run it
again, get the same bytes.

    python scripts/make_preference_seed.py   # after `dvc repro data-support`
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

TRAIN = Path("artifacts/datasets/support/train.jsonl")
OUT = Path("data/raw/support-preferences.jsonl")


def collapsed(answer: str) -> str:
    """The first few words, then the last of them repeated: fluent-looking, useless."""
    words = answer.split()
    head = words[: max(2, len(words) // 4)]
    return " ".join(head + [head[-1]] * 6)


def stuttering(answer: str) -> str:
    """The first half of the answer with every word doubled."""
    words = answer.split()
    return " ".join(w for word in words[: max(3, len(words) // 2)] for w in (word, word))


def main() -> None:
    rows = [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines() if line]
    rows.sort(key=lambda r: hashlib.sha256(r["text"].encode()).hexdigest())
    pairs = []
    for i, row in enumerate(rows):
        if i % 2 == 0:
            rejected, why = collapsed(row["answer"]), "collapses into repetition"
        else:
            rejected, why = stuttering(row["answer"]), "stutters"
        pairs.append({"text": row["text"], "chosen": row["answer"], "rejected": rejected, "why": why})
    OUT.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    print(f"wrote {len(pairs)} pairs to {OUT}")


if __name__ == "__main__":
    main()
