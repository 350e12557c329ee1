"""Gates read the RAG figures an eval stage writes (`recall@5`, `mrr@5`, `faithfulness`) like any
other: under every model of the suite, keyed with their cutoff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.compiler.kinds.policy import Policy
from llmops.gates import Results, disk_reader, evaluate

EVAL = "metrics/eval-rag.json"


def rag_metrics(recall: float) -> dict[str, Any]:
    figures = {
        "recall@5": recall,
        "recall@5_ci_low": recall - 0.05,
        "recall@5_ci_high": min(1.0, recall + 0.05),
        "mrr@5": 0.7,
        "faithfulness": 0.9,
        "rougeL": 0.4,
        "n": 20,
    }
    return {
        "split": "test",
        "models": {"finetune:rag": figures},
        "baselines": {"base_of:rag": {**figures, "faithfulness": 0.6}},
        "deltas": {"finetune:rag": {"base_of:rag": {"recall@5": 0.0, "faithfulness": 0.3}}},
        "retrieval": {"recall@5": recall, "mrr@5": 0.7, "n": 20},
        "_directions": {},
    }


def gate(tmp_path: Path, recall: float, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (tmp_path / "metrics").mkdir(exist_ok=True)
    (tmp_path / EVAL).write_text(json.dumps(rag_metrics(recall)))
    policy = Policy.model_validate({"kind": "Policy", "name": "release", "rules": rules})
    return evaluate(policy, Results([EVAL], "release", disk_reader(tmp_path)))


RULES = [
    {"type": "threshold", "suite": "rag", "metric": "recall@5", "min": 0.8},
    {"type": "threshold", "suite": "rag", "metric": "faithfulness", "min": 0.8},
    {"type": "regression", "suite": "rag", "metric": "faithfulness", "max_drop": 0.0},
]


def test_recall_at_5_passes_and_fails_its_threshold(tmp_path):
    passing = gate(tmp_path, 0.85, RULES)
    assert [r["passed"] for r in passing] == [True, True, True]
    assert passing[0]["metric"] == "recall@5" and passing[0]["observed"] == 0.85
    failing = gate(tmp_path, 0.75, RULES[:1])
    assert [r["passed"] for r in failing] == [False]
    assert "recall@5 of finetune:rag is 0.75: misses >= 0.8" in failing[0]["message"]


def test_a_missing_cutoff_names_the_figures_there_are(tmp_path):
    results = gate(tmp_path, 0.9, [{"type": "threshold", "suite": "rag", "metric": "recall@10", "min": 0.8}])
    assert not results[0]["passed"]
    assert "no figure 'recall@10'" in results[0]["message"] and "recall@5" in results[0]["message"]
