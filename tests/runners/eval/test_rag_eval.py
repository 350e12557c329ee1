"""The eval stage for a retrieval-augmented prompt, end to end on CPU: the real index stage with
the tiny embedder, the tiny LoRA-tuned Llama and its base answering from the passages, RAG
metrics with intervals under every model, passages in the predictions, a Retrieval section in
the report, and a gate reading `recall@1`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.kinds.policy import Policy
from llmops.errors import StageFailed
from llmops.gates import Results, disk_reader, evaluate
from llmops.runners.eval.run import run
from llmops.runners.registry import typed_config
from tests.runners.eval.rag_project import TEMPLATE, build_index, retrieval

METRICS = [
    {"name": "recall", "args": {"k": 1, "gold_column": "doc"}},
    {"name": "mrr", "args": {"gold_column": "doc"}},
    {"name": "hit_rate", "args": {"gold": "answer", "min_overlap": 0.3}},
    {"name": "context_relevance", "args": {"method": "embedding"}},
    {"name": "faithfulness", "args": {}},
    {"name": "rouge", "args": {"rouge_types": "rougeL"}},
]


def rag_eval_config(index_dir: str | None, **prompt: Any) -> dict[str, Any]:
    return {
        "stage": "eval-rag",
        "kind": "eval",
        "runner_version": 1,
        "spec": {
            "kind": "EvalSuite",
            "name": "rag",
            "models": [{"finetune": "tiny"}],
            "baselines": [{"base_of": "tiny"}],
            "dataset": "qa",
            "prompt": "rag",
            "split": "test",
            "generation": {"max_new_tokens": 8, "batch_size": 8, "engine": "transformers"},
            "metrics": METRICS,
            "bootstrap": {"samples": 100, "confidence": 0.9},
        },
        "inputs": {
            "dataset": "data/qa",
            "prompt": {
                "kind": "Prompt",
                "name": "rag",
                "template": TEMPLATE,
                "variables": ["text"],
                "completion": "answer",
                "retrieval": retrieval(),
                **prompt,
            },
            "seed": 7,
            "models": [{"label": "finetune:tiny", "path": "models/tiny"}],
            "baselines": [{"label": "base_of:tiny", "path": "base"}],
            **({"retrieval_index": index_dir} if index_dir else {}),
        },
        "outputs": {
            "outs": ["artifacts/evals/rag"],
            "metrics": ["metrics/eval-rag.json"],
            "plots": [],
            "reports": ["reports/eval-rag.md"],
        },
    }


@pytest.fixture
def rag_project(tuned_project: Path, tiny_embedder: Path) -> tuple[Path, str]:
    """The tiny tuned model, its base and dataset, each test row given its page (`doc`), and the
    index (the session's tuned model, shared with the other eval tests)."""
    test = tuned_project / "data/qa/test.jsonl"
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    test.write_text("".join(json.dumps({**r, "doc": f"kb/{r['label']}.md"}) + "\n" for r in rows))
    return tuned_project, build_index(tuned_project, tiny_embedder)


def test_rag_metrics_predictions_report_and_gate(rag_project):
    root, index_dir = rag_project
    run(typed_config(rag_eval_config(index_dir)), root)
    metrics = json.loads((root / "metrics/eval-rag.json").read_text())
    figures, base = metrics["models"]["finetune:tiny"], metrics["baselines"]["base_of:tiny"]
    for key in ("recall@1", "mrr@2", "hit_rate@2", "context_relevance", "faithfulness", "rougeL"):
        assert figures[f"{key}_ci_low"] <= figures[key] <= figures[f"{key}_ci_high"], key
    assert figures["recall@1"] >= 0.75  # each question shares a content word with its page only
    assert figures["mrr@2"] >= figures["recall@1"]
    section = metrics["retrieval"]
    assert section["recall@1"] == figures["recall@1"] and section["top_k"] == 2
    assert section["empty_retrievals"] == 0 and section["n"] == figures["n"]
    assert "faithfulness" not in section  # it depends on the model's answers
    # retrieval is the same for every model; the tuned model's answers use the pages' words
    assert base["recall@1"] == figures["recall@1"]
    assert metrics["deltas"]["finetune:tiny"]["base_of:tiny"]["recall@1"] == 0
    assert figures["faithfulness"] > base["faithfulness"] + 0.1

    lines = [json.loads(x) for x in (root / "artifacts/evals/rag/predictions.jsonl").read_text().splitlines()]
    first = lines[0]
    assert len(first["passages"]) == 2 and first["passages"][0].startswith("kb/")
    assert first["contexts"][0] in first["input"]  # the model saw the passages it is scored on
    assert set(first["scores"]) >= {"recall@1", "faithfulness"}
    report = (root / "reports/eval-rag.md").read_text()
    assert "## Retrieval" in report and "### Worst-retrieved questions by recall@1" in report
    run_info = json.loads((root / "artifacts/evals/rag/run.json").read_text())
    assert run_info["retrieval_index"] == index_dir

    recall = figures["recall@1"]
    rules = [
        {"type": "threshold", "suite": "rag", "metric": "recall@1", "min": round(recall - 0.05, 3)},
        {"type": "threshold", "suite": "rag", "metric": "recall@1", "min": round(recall + 0.05, 3)},
        {"type": "threshold", "suite": "rag", "metric": "faithfulness", "min": 0.0},
    ]
    policy = Policy.model_validate({"kind": "Policy", "name": "release", "rules": rules})
    results = evaluate(policy, Results(["metrics/eval-rag.json"], "release", disk_reader(root)))
    assert [r["passed"] for r in results] == [True, False, True]


def test_a_missing_index_names_the_stage_to_run(rag_project):
    root, _ = rag_project
    with pytest.raises(StageFailed, match="run the stage index-kb first"):
        run(typed_config(rag_eval_config("artifacts/indexes/missing")), root)
    with pytest.raises(StageFailed, match=r"no inputs\.retrieval_index"):
        run(typed_config(rag_eval_config(None)), root)
