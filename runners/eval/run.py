"""The eval stage: every model and baseline generates on the held-out split, `evaluate`
metrics score the predictions with bootstrap intervals, and the outputs say by how much each
model beats (or trails) each baseline.

Outputs: `predictions.jsonl` (input, reference, prediction, per-example scores) in the stage's
folder, a metrics JSON that gates read (per model, per baseline, deltas), a scores plot and a
Markdown report with the worst examples. All written whole, after everything succeeded.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.compiler.kinds.evalsuite import JUDGED_METRICS
from llmops.compiler.stages.eval import EvalConfig, LabeledDeployment, LabeledModel
from llmops.errors import StageFailed

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import EvalSuite, Metric


def read_split(dataset: Path, split: str) -> list[dict[str, Any]]:
    path = dataset / f"{split}.jsonl"
    if not path.is_file():
        raise StageFailed(f"{path} does not exist; run the dataset's stage first")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise StageFailed(f"{path} has no rows to evaluate on")
    return rows


def evaluate_model(
    where: LabeledModel,
    rows: list[dict[str, Any]],
    template: Any,
    spec: EvalSuite,
    root: Path,
    seed: int,
    engine: str,
    retrieval: Any = None,
) -> dict[str, Any]:
    """Generate, score and time one model on the rows.

    With `retrieval` (rag_eval.Retrieval: the rows carry their passages), the model-free
    retrieval scores are added to the model's and the model's own RAG metrics (faithfulness)
    read the passages."""
    from llmops.hf.generate import generate_transformers
    from llmops.hf.loading import load_causal_lm, load_tokenizer, read_card, resolve_location
    from llmops.runners.eval.generate import generate_vllm, reference_nll
    from llmops.runners.eval.scoring import score_all

    if isinstance(where, LabeledDeployment):
        raise StageFailed(
            f"{where.label}: eval stages do not evaluate what a Deployment serves (its deploy stage "
            "records that only on the machine serving it); name the model with finetune:, path: or hub:"
        )
    name, revision = resolve_location(where, root)
    tokenizer = load_tokenizer(name, revision)
    column = template.completion_column
    prompts = [
        template.render(row, during=f"row {i + 1}").prompt_for(tokenizer) for i, row in enumerate(rows)
    ]
    references = [str(row[column]) for row in rows]
    generation = spec.generation
    model = None
    if engine == "vllm":
        card = read_card(name) if revision is None else None
        if card and card.get("base_model", {}).get("path"):  # the card's paths are project-relative
            card = {
                **card,
                "base_model": {**card["base_model"], "path": str(root / card["base_model"]["path"])},
            }
        generated = generate_vllm(name, revision, card, prompts, generation, seed)
    else:
        model = load_causal_lm(name, revision, root)
        generated = generate_transformers(model, tokenizer, prompts, generation, seed)
    nll = tokens = None
    nll_started = time.perf_counter()
    if any(m.name == "perplexity" for m in spec.metrics):
        model = model or load_causal_lm(name, revision, root)
        completions = [template.completion_text(r) for r in references]
        nll, tokens = reference_nll(model, tokenizer, prompts, completions, generation.batch_size)
    # model time (generation and the perplexity pass), taken before scoring starts
    generation_s = generated.seconds + (time.perf_counter() - nll_started)
    started = time.perf_counter()
    # the judged metrics are scored after every model has answered (judged.py)
    metrics = [m for m in spec.metrics or [] if m.name not in JUDGED_METRICS]
    if retrieval is not None:
        from llmops.runners.eval.rag_eval import split_metrics

        metrics = split_metrics(metrics)[1]
    scores, per_example = score_all(
        metrics,
        generated.predictions,
        references,
        root=root,
        seed=seed,
        bootstrap=spec.bootstrap,
        nll=nll,
        tokens=tokens,
        rag=None if retrieval is None else retrieval.rag,
    )
    if retrieval is not None:  # scored once per suite: the same under every model
        scores = [*scores, *retrieval.scores]
        per_example = {**per_example, **retrieval.per_example}
    scoring_s = time.perf_counter() - started
    return {
        "label": where.label,
        "prompts": prompts,
        "references": references,
        "predictions": generated.predictions,
        "scores": scores,
        "per_example": per_example,
        "generation_s": generation_s,
        "scoring_s": scoring_s,
        "engine": generated.engine,
    }


def preload_metrics(metrics: list[Metric]) -> float:
    """Load the `evaluate` modules once, up front: importing `evaluate` and building a module
    costs seconds that do not grow with the suite, so they are reported apart from scoring."""
    from llmops.runners.eval.modules import load_module

    started = time.perf_counter()
    from llmops.compiler.kinds.evalsuite import JUDGED_METRICS, RAG_METRICS

    shipped = {m.name for m in metrics if m.name != "custom" and m.name not in RAG_METRICS + JUDGED_METRICS}
    for name in sorted(shipped):
        load_module(name)
    return time.perf_counter() - started


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """A model's figures as flat metrics: value, interval and sample size per figure."""
    out: dict[str, Any] = {}
    for score in result["scores"]:
        out[score.key] = round(score.value, 6)
        if score.ci_low is not None:
            out[f"{score.key}_ci_low"] = round(score.ci_low, 6)
            out[f"{score.key}_ci_high"] = round(score.ci_high, 6)
    out["n"] = len(result["predictions"])
    return out


def build_metrics(spec: EvalSuite, models: list[dict], baselines: list[dict]) -> dict[str, Any]:
    lower = sorted({s.key for r in models + baselines for s in r["scores"] if not s.higher_is_better})
    metrics: dict[str, Any] = {
        "split": spec.split,
        "models": {r["label"]: figures(r) for r in models},
        "baselines": {r["label"]: figures(r) for r in baselines},
        "deltas": {},
    }
    for model in models:
        mine = {s.key: s.value for s in model["scores"]}
        metrics["deltas"][model["label"]] = {
            base["label"]: {s.key: round(mine[s.key] - s.value, 6) for s in base["scores"] if s.key in mine}
            for base in baselines
        }
    generation_s = sum(r["generation_s"] for r in models + baselines)
    scoring_s = sum(r["scoring_s"] for r in models + baselines)
    examples = sum(len(r["predictions"]) for r in models + baselines)
    metrics["speed"] = {
        "engine": (models + baselines)[0]["engine"],
        "examples_per_s": round(examples / (generation_s + scoring_s), 3) if examples else None,
        "scoring_share": round(scoring_s / (generation_s + scoring_s), 4) if generation_s else None,
    }
    metrics["_directions"] = {key: "lower" for key in lower}
    return metrics


def scores_csv(models: list[dict], baselines: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model_figure", "value", "ci_low", "ci_high"])
    for result in models + baselines:
        for s in result["scores"]:
            writer.writerow(
                [
                    f"{result['label']}: {s.key}",
                    f"{s.value:.6f}",
                    "" if s.ci_low is None else f"{s.ci_low:.6f}",
                    "" if s.ci_high is None else f"{s.ci_high:.6f}",
                ]
            )
    return buffer.getvalue()


def predictions_jsonl(results: list[dict], rows: list[dict[str, Any]], retrieval: Any = None) -> str:
    from llmops.runners.eval.rag_eval import prediction_fields

    lines = []
    for result in results:
        for i, row in enumerate(rows):
            lines.append(
                json.dumps(
                    {
                        "model": result["label"],
                        "id": row.get("id", i),
                        "input": result["prompts"][i],
                        "reference": result["references"][i],
                        "prediction": result["predictions"][i],
                        "scores": {
                            k: round(v[i], 6) for k, v in result["per_example"].items() if len(v) == len(rows)
                        },
                        **prediction_fields(retrieval, i),
                    },
                    ensure_ascii=False,
                    sort_keys=True,
                )
            )
    return "\n".join(lines) + "\n"


def judged_figures(
    config: EvalConfig,
    root: Path,
    template: Any,
    rows: list[dict[str, Any]],
    engine: str,
    models: list[dict],
    baselines: list[dict],
) -> None:
    """The judged metrics' figures added to the results (judged.py), and the run-time warning
    when a label metric scores free text (fit.py)."""
    from llmops.runners.eval.fit import free_text_warning

    spec, inputs = config.spec, config.inputs
    warning = free_text_warning(spec.metrics or [], models[0]["references"] if models else [])
    if warning:
        print(f"{config.stage}: warning: {warning}", file=sys.stderr)
    if not any(m.name in JUDGED_METRICS for m in spec.metrics or []):
        return
    from llmops.prompting.render import PromptTemplate
    from llmops.runners.eval import judged

    templates = {name: PromptTemplate.from_config(p, root) for name, p in inputs.judge_prompts.items()}
    questions = [template.render_user(row, during=f"row {i + 1}") for i, row in enumerate(rows)]
    asker = judged.make_asker(spec, inputs.judge_model, root, inputs.seed, engine)
    judged.score(spec, asker, templates, questions, models, baselines, inputs.seed)


def run(config: EvalConfig, root: Path) -> None:
    from llmops.prompting.render import PromptTemplate
    from llmops.runners.eval import rag_eval
    from llmops.runners.eval.generate import choose_engine
    from llmops.runners.eval.report import render_report

    spec, inputs, outputs = config.spec, config.inputs, config.outputs
    if not spec.metrics:  # lm-evaluation-harness tasks only: no split, no prompt (harness.py)
        from llmops.runners.eval.harness import run_harness_only

        return run_harness_only(config, root)
    template = PromptTemplate.from_config(inputs.prompt, root)
    if not template.completion_column:
        raise StageFailed(
            f"Prompt '{template.name}' names no `completion` column, "
            "so there is no reference to score against"
        )
    rows = read_split(root / inputs.dataset, spec.split)
    missing = [i + 1 for i, row in enumerate(rows) if row.get(template.completion_column) is None]
    if missing:
        raise StageFailed(f"{spec.split}.jsonl rows {missing[:5]} have no '{template.completion_column}'")
    engine = choose_engine(spec.generation.engine)
    seed = inputs.seed
    load_s = preload_metrics(spec.metrics)
    retrieval_index = getattr(inputs, "retrieval_index", None)
    rows, retrieval = rag_eval.augment(template, retrieval_index, rows, root, config.stage)
    if retrieval is not None:
        once = rag_eval.split_metrics(spec.metrics)[0]
        references = [str(row[template.completion_column]) for row in rows]
        rag_eval.score(retrieval, once, references, spec, root, seed)
    models = [evaluate_model(w, rows, template, spec, root, seed, engine, retrieval) for w in inputs.models]
    baselines = [
        evaluate_model(w, rows, template, spec, root, seed, engine, retrieval) for w in inputs.baselines
    ]
    judged_figures(config, root, template, rows, engine, models, baselines)
    harness = None
    if spec.harness is not None:  # lm-evaluation-harness tasks on the same models (harness.py)
        from llmops.runners.eval import harness as lm_harness

        harness = lm_harness.run_all(config, root)
        lm_harness.add_to(models + baselines, harness)
    metrics = build_metrics(spec, models, baselines)
    metrics["speed"]["metric_load_s"] = round(load_s, 3)
    metrics["prompt_hash"] = template.content_hash
    if harness is not None:
        metrics["harness"] = lm_harness.section(spec, harness)
    if retrieval is not None:
        metrics["retrieval"] = rag_eval.section(retrieval)
    with replace_dir(root / outputs.outs[0]) as staging:
        (staging / "predictions.jsonl").write_text(
            predictions_jsonl(models + baselines, rows, retrieval), encoding="utf-8"
        )
        if harness is not None:
            (staging / "harness.json").write_text(lm_harness.raw_json(harness), encoding="utf-8")
        (staging / "run.json").write_text(
            json.dumps(
                {
                    "stage": config.stage,
                    "runner_version": config.runner_version,
                    "seed": seed,
                    "engine": engine,
                    "prompt_hash": template.content_hash,
                    **({"retrieval_index": retrieval_index} if retrieval is not None else {}),
                },
                indent=2,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
    for path in outputs.plots:
        write_text(root / path, scores_csv(models, baselines))
    for path in outputs.reports:
        report = render_report(config.stage, spec, metrics, models, baselines, retrieval)
        if harness is not None:
            report += "\n".join(lm_harness.report_lines(spec, metrics)) + "\n"
        write_text(root / path, report)
    for path in outputs.metrics:
        write_text(root / path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
