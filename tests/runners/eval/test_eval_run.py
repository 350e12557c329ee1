"""The eval stage for real on CPU: a LoRA-tuned tiny Llama against its base; and its timings and
perplexity pass against fakes and a by-hand computation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from llmops.compiler.stages.eval import EvalConfig
from llmops.errors import StageFailed
from llmops.runners.eval.run import run
from llmops.runners.registry import typed_config


def eval_config(prompt: dict[str, Any], **generation: Any) -> dict[str, Any]:
    """`.llmops/stages/eval-quality.json` as `llmops compile` writes it (`typed` reads it)."""
    return {
        "stage": "eval-quality",
        "kind": "eval",
        "runner_version": 1,
        "spec": {
            "kind": "EvalSuite",
            "name": "quality",
            "models": [{"finetune": "tiny"}],
            "baselines": [{"base_of": "tiny"}],
            "dataset": "qa",
            "prompt": "qa",
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


def typed(config: dict[str, Any]) -> EvalConfig:
    return typed_config(config)  # type: ignore[return-value]


@pytest.fixture
def prompt(make_config) -> dict[str, Any]:
    return make_config()["inputs"]["prompt"]


def test_the_tuned_model_beats_its_base_and_every_output_is_written(tuned_project: Path, prompt):
    run(typed(eval_config(prompt)), tuned_project)
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
    run(typed(eval_config(prompt, batch_size=5)), tuned_project)
    batched = (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text()
    run(typed(eval_config(prompt, batch_size=1)), tuned_project)
    single = (tuned_project / "artifacts/evals/quality/predictions.jsonl").read_text()
    strip = lambda text: [json.loads(x)["prediction"] for x in text.splitlines()]  # noqa: E731
    assert strip(batched) == strip(single)


def test_predictions_are_what_generate_gives_by_hand(tuned_project: Path, prompt):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run(typed(eval_config(prompt)), tuned_project)
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
        run(typed(config), tuned_project)
    assert not (tuned_project / "metrics/eval-quality.json").exists()


def test_a_missing_split_names_the_file(tuned_project: Path, prompt):
    (tuned_project / "data/qa/test.jsonl").unlink()
    with pytest.raises(StageFailed, match=r"test.jsonl does not exist"):
        run(typed(eval_config(prompt)), tuned_project)


def test_scoring_time_is_not_counted_as_generation_time(tmp_path: Path, monkeypatch):
    """Model time is taken before scoring: a slow scorer slows scoring, not generation (it once
    counted scoring twice, in both figures, which made examples/s and the scoring share wrong)."""
    import llmops.hf.generate as hf_generate
    import llmops.hf.loading as loading
    import llmops.runners.eval.scoring as scoring
    from llmops.compiler.kinds.evalsuite import EvalSuite
    from llmops.compiler.stages.eval import LabeledPath
    from llmops.hf.generate import Generated
    from llmops.runners.eval.run import build_metrics, evaluate_model

    class Template:
        completion_column = "answer"

        def render(self, row, during=""):
            return type("Rendered", (), {"prompt_for": lambda _self, tokenizer: row["text"]})()

        def completion_text(self, reference):
            return reference

    def fake_generate(model, tokenizer, prompts, generation, seed):
        return Generated([p.upper() for p in prompts], 0.01, "transformers")

    def slow_score_all(metrics, predictions, references, **kwargs):
        time.sleep(0.5)
        return [], {}

    monkeypatch.setattr(loading, "load_tokenizer", lambda name, revision: object())
    monkeypatch.setattr(loading, "load_causal_lm", lambda name, revision, root: object())
    monkeypatch.setattr(hf_generate, "generate_transformers", fake_generate)
    monkeypatch.setattr(scoring, "score_all", slow_score_all)
    (tmp_path / "model").mkdir()
    spec = EvalSuite.model_validate(
        {
            "kind": "EvalSuite",
            "name": "quality",
            "models": [{"path": "model"}],
            "dataset": "qa",
            "prompt": "qa",
            "metrics": [{"name": "exact_match"}],
        }
    )
    rows = [{"text": "a", "answer": "A"}, {"text": "b", "answer": "B"}]
    where = LabeledPath(path="model", label="path:model")
    result = evaluate_model(where, rows, Template(), spec, tmp_path, 0, "transformers")
    assert result["predictions"] == ["A", "B"]
    assert result["scoring_s"] >= 0.5
    assert result["generation_s"] < 0.25, "scoring time was counted as generation time"
    speed = build_metrics(spec, [result], [])["speed"]
    assert speed["scoring_share"] > 0.6
    assert speed["examples_per_s"] == pytest.approx(
        2 / (result["generation_s"] + result["scoring_s"]), rel=1e-2
    )


def test_reference_nll_is_each_completion_given_its_prompt(tuned_project: Path):
    """Batched longest first, with logits and loss on completion positions only, the figures are
    those of each example alone with its full logits, in the caller's order."""
    import torch

    from llmops.hf.loading import load_causal_lm, load_tokenizer
    from llmops.runners.eval.generate import reference_nll

    model = load_causal_lm(str(tuned_project / "models/tiny"), None, tuned_project)
    tokenizer = load_tokenizer(str(tuned_project / "models/tiny"), None)
    rows = [json.loads(x) for x in (tuned_project / "data/qa/test.jsonl").read_text().splitlines()]
    prompts = [f"Question: {r['text']}" + " really" * (i % 4) + "\nAnswer:" for i, r in enumerate(rows)]
    completions = [" " + r["answer"] + " thanks" * (i % 3) for i, r in enumerate(rows)]
    sums, counts = reference_nll(model, tokenizer, prompts, completions, batch_size=4)

    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            head = tokenizer(prompt, add_special_tokens=True)["input_ids"]
            tail = tokenizer(completion, add_special_tokens=False)["input_ids"] + [eos]
            ids = torch.tensor([head + tail])
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            picked = logprobs[torch.arange(len(head) - 1, ids.shape[1] - 1), torch.tensor(tail)]
            assert counts[i] == len(tail)
            assert sums[i] == pytest.approx(-float(picked.sum()), rel=1e-4, abs=1e-4), i
