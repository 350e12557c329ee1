"""The eval stage for real on CPU: a LoRA-tuned tiny Llama against its base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import StageFailed
from llmops.runners.eval.run import run


def eval_config(prompt: dict[str, Any], **generation: Any) -> dict[str, Any]:
    return {
        "stage": "eval-quality",
        "kind": "eval",
        "spec": {
            "name": "quality",
            "split": "test",
            "generation": {
                "max_new_tokens": 24,
                "temperature": 0.0,
                "top_p": 1.0,
                "stop": ["\nQuestion:"],
                "seed": None,
                "batch_size": 4,
                "engine": "auto",
                **generation,
            },
            "metrics": [
                {"name": "rouge", "callable": None, "args": {}},
                {"name": "bleu", "callable": None, "args": {}},
                {"name": "chrf", "callable": None, "args": {}},
                {"name": "exact_match", "callable": None, "args": {"ignore_case": True}},
                {"name": "perplexity", "callable": None, "args": {}},
            ],
            "bootstrap": {"samples": 200, "confidence": 0.95},
        },
        "inputs": {
            "dataset": "data/qa",
            "prompt": prompt,
            "seed": 7,
            "models": [{"label": "finetune:tiny", "path": "models/tiny"}],
            "baselines": [{"label": "base_of:tiny", "path": "base"}],
        },
        "outputs": {
            "outs": ["artifacts/evals/quality"],
            "metrics": ["metrics/eval-quality.json"],
            "plots": ["plots/eval-quality/scores.csv"],
            "reports": ["reports/eval-quality.md"],
        },
    }


@pytest.fixture
def prompt(make_config) -> dict[str, Any]:
    return make_config()["inputs"]["prompt"]


def test_the_tuned_model_beats_its_base_and_every_output_is_written(tuned_project: Path, prompt):
    run(eval_config(prompt), tuned_project)
    metrics = json.loads((tuned_project / "metrics/eval-quality.json").read_text())
    tuned, base = metrics["models"]["finetune:tiny"], metrics["baselines"]["base_of:tiny"]
    n = len((tuned_project / "data/qa/test.jsonl").read_text().splitlines())
    assert tuned["n"] == base["n"] == n
    for key in ("rouge1", "rouge2", "rougeL", "bleu", "chrf", "exact_match", "perplexity"):
        assert key in tuned and key in base, key
        assert tuned[f"{key}_ci_low"] <= tuned[key] <= tuned[f"{key}_ci_high"]
    assert tuned["rougeL"] > base["rougeL"] + 0.1
    assert tuned["perplexity"] < base["perplexity"]
    deltas = metrics["deltas"]["finetune:tiny"]["base_of:tiny"]
    assert deltas["rougeL"] == pytest.approx(tuned["rougeL"] - base["rougeL"], abs=2e-6)
    assert metrics["_directions"]["perplexity"] == "lower"
    assert metrics["speed"]["engine"] == "transformers" and 0 < metrics["speed"]["scoring_share"] < 1
    assert metrics["speed"]["metric_load_s"] >= 0  # module loading is reported apart from scoring

    lines = [
        json.loads(x)
        for x in (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text().splitlines()
    ]
    assert len(lines) == 2 * n
    first = lines[0]
    assert first["model"] == "finetune:tiny" and first["input"].startswith("Question: ")
    assert set(first["scores"]) >= {"rougeL", "exact_match"}
    report = (tuned_project / "reports/eval-quality.md").read_text()
    assert "## Worst examples of `finetune:tiny` by rougeL" in report and "vs `base_of:tiny`" in report
    csv = (tuned_project / "plots/eval-quality/scores.csv").read_text().splitlines()
    assert csv[0] == "model_figure,value,ci_low,ci_high" and any(
        r.startswith("finetune:tiny: rougeL,") for r in csv
    )


def test_batched_generation_matches_one_at_a_time(tuned_project: Path, prompt):
    run(eval_config(prompt, batch_size=5), tuned_project)
    batched = (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text()
    run(eval_config(prompt, batch_size=1), tuned_project)
    single = (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text()
    strip = lambda text: [json.loads(x)["prediction"] for x in text.splitlines()]  # noqa: E731
    assert strip(batched) == strip(single)


def test_predictions_are_what_generate_gives_by_hand(tuned_project: Path, prompt):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run(eval_config(prompt), tuned_project)
    row = json.loads((tuned_project / "data/qa/test.jsonl").read_text().splitlines()[0])
    tokenizer = AutoTokenizer.from_pretrained(tuned_project / "models/tiny")
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tuned_project / "base"), tuned_project / "models/tiny"
    ).merge_and_unload()
    ids = tokenizer(f"Question: {row['text']}\nAnswer:", return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    expected = expected.split("\nQuestion:")[0].strip()
    first = json.loads(
        (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text().splitlines()[0]
    )
    assert first["prediction"] == expected


def test_a_deployment_baseline_is_refused_clearly(tuned_project: Path, prompt):
    config = eval_config(prompt)
    config["inputs"]["baselines"] = [{"label": "deployment:prod", "deployment": "prod"}]
    with pytest.raises(StageFailed, match=r"deployment:prod.*finetune:, path: or hub:"):
        run(config, tuned_project)
    assert not (tuned_project / "metrics/eval-quality.json").exists()


def test_a_missing_split_names_the_file(tuned_project: Path, prompt):
    (tuned_project / "data/qa/test.jsonl").unlink()
    with pytest.raises(StageFailed, match=r"test.jsonl does not exist"):
        run(eval_config(prompt), tuned_project)
