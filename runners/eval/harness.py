"""lm-evaluation-harness tasks in the eval stage (an EvalSuite's `harness:`).

Every model and baseline runs the suite's tasks through `lm_eval.simple_evaluate`; each figure
becomes a `Score` like the suite's own metrics, so the metrics file, the deltas against the
baselines, the scores plot, `llmops metrics diff` and Policy gates read it the same way:

- key `<task>/<metric>` (e.g. `tiny_qa/acc`); a harness filter other than `none` adds
  `@<filter>` (`gsm8k/exact_match@strict-match`);
- interval: value ± z·stderr, the harness's own standard error (closed form for means, its
  bootstrap otherwise, `bootstrap.samples` draws), z from `bootstrap.confidence` (1.96 at 0.95);
  `bootstrap.samples: 0` gives no intervals, as for the other metrics;
- direction from the task's `higher_is_better`.

The model is loaded the way every llmops stage loads one (`llmops.hf.loading`: safetensors only,
never remote code; an llmops adapter folder is merged into its base) and handed to the harness's
`HFLM` already built, so the harness never resolves a model name itself.

Tasks of `include_path` (YAMLs in the project, their data files named relative to the project
root) are looked up without indexing the harness's thousands of built-in tasks, and then run
with `datasets` offline: nothing is fetched. Built-in tasks read their data sets through
`datasets` as usual (its cache; HF_HUB_OFFLINE makes a missing one an error).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StageFailed

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import EvalSuite, Harness
    from llmops.compiler.stages.eval import EvalConfig, LabeledModel
    from llmops.runners.eval.scoring import Score

NO_FILTER = "none"


def figure_key(task: str, metric: str, filter_name: str) -> str:
    """The metrics-file key of one harness figure (see the module docstring)."""
    key = f"{task}/{metric}"
    return key if filter_name in (NO_FILTER, "") else f"{key}@{filter_name}"


def task_manager(harness: Harness, root: Path) -> tuple[Any, bool]:
    """(the harness's TaskManager, whether every task is a local one of `include_path`).

    The local folder is indexed alone first: the built-in index costs seconds and is only
    needed when a task is not local."""
    from lm_eval.tasks import TaskManager

    folder = None
    if harness.include_path:
        folder = root / harness.include_path
        if not folder.is_dir():
            raise StageFailed(
                f"harness.include_path {harness.include_path} is not a folder of the project; "
                "create it with the task YAMLs, or remove include_path"
            )
        local = TaskManager(include_path=str(folder), include_defaults=False)
        if all(task in local.all_tasks for task in harness.tasks):
            return local, True
    manager = TaskManager(include_path=str(folder) if folder else None)
    unknown = [task for task in harness.tasks if task not in manager.all_tasks]
    if unknown:
        hints = {t: difflib.get_close_matches(t, manager.all_tasks, n=3) for t in unknown}
        said = "; ".join(f"{t} (did you mean {', '.join(h)}?)" if h else t for t, h in hints.items())
        where = f" nor in {harness.include_path}" if harness.include_path else ""
        raise StageFailed(
            f"harness task(s) {said} are not tasks of lm-eval{where}; `lm-eval ls tasks` lists the "
            "built-in ones, and a local task YAML goes into harness.include_path"
        )
    return manager, False


def load_lm(where: LabeledModel, root: Path, batch_size: int) -> Any:
    """The model as the harness's HFLM, on the GPU when there is one."""
    import torch
    from lm_eval.models.huggingface import HFLM

    from llmops.compiler.stages.eval import LabeledDeployment
    from llmops.hf.loading import load_causal_lm, load_tokenizer, resolve_location

    if isinstance(where, LabeledDeployment):
        raise StageFailed(
            f"{where.label}: harness tasks run on a model folder or hub model, not on what a "
            "Deployment serves; name the model with finetune:, path: or hub:"
        )
    name, revision = resolve_location(where, root)
    tokenizer = load_tokenizer(name, revision)
    model = load_causal_lm(name, revision, root)
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, trust_remote_code=False)


def scores_from(results: dict[str, Any], confidence: float) -> list[Score]:
    """The harness's `results` as Scores, in the harness's task order then metric order."""
    from llmops.runners.eval.scoring import Score

    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    directions = results.get("higher_is_better", {})
    samples = results.get("n-samples", {})
    scores = []
    for task, figures in results["results"].items():
        n = int(samples.get(task, {}).get("effective", 0))
        for name, value in figures.items():
            metric, comma, filter_name = name.partition(",")
            # `alias` and `sample_len` are facts, not figures: every figure is `<metric>,<filter>`
            if not comma or metric.endswith("_stderr") or not _number(value):
                continue
            stderr = figures.get(f"{metric}_stderr,{filter_name}")
            low = high = None
            if _number(stderr):
                low, high = float(value) - z * float(stderr), float(value) + z * float(stderr)
            scores.append(
                Score(
                    metric="harness",
                    key=figure_key(task, metric, filter_name),
                    value=float(value),
                    ci_low=low,
                    ci_high=high,
                    n=n,
                    higher_is_better=bool(directions.get(task, {}).get(metric, True)),
                    source=f"lm-eval:{task}",
                )
            )
    return scores


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def evaluate(
    where: LabeledModel, spec: EvalSuite, manager: Any, local: bool, root: Path, seed: int
) -> dict[str, Any]:
    """One model on the suite's harness tasks: its Scores, seconds and per-task facts."""
    import lm_eval

    from llmops.hf.hub import datasets_offline

    harness = spec.harness
    assert harness is not None
    started = time.perf_counter()
    lm = load_lm(where, root, harness.batch_size)
    # data files of local tasks are named relative to the project root
    with contextlib.chdir(root), datasets_offline(local):
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=list(harness.tasks),
            num_fewshot=harness.num_fewshot,
            limit=harness.limit,
            bootstrap_iters=spec.bootstrap.samples,
            log_samples=False,
            task_manager=manager,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    if not results or "results" not in results:
        raise StageFailed(f"{where.label}: lm-eval returned no results for {', '.join(harness.tasks)}")
    tasks = {
        task: {
            "n": int(results.get("n-samples", {}).get(task, {}).get("effective", 0)),
            "num_fewshot": results.get("n-shot", {}).get(task),
            "version": results.get("versions", {}).get(task),
        }
        for task in results["results"]
    }
    return {
        "scores": scores_from(results, spec.bootstrap.confidence),
        "seconds": time.perf_counter() - started,
        "tasks": tasks,
        "raw": {key: results.get(key) for key in ("results", "groups", "versions", "n-shot", "n-samples")},
    }


def run_all(config: EvalConfig, root: Path) -> dict[str, dict[str, Any]]:
    """Every model and baseline on the harness tasks, by label."""
    spec = config.spec
    assert spec.harness is not None
    manager, local = task_manager(spec.harness, root)
    seed = config.inputs.seed
    return {
        where.label: evaluate(where, spec, manager, local, root, seed)
        for where in [*config.inputs.models, *config.inputs.baselines]
    }


def add_to(results: list[dict[str, Any]], harness: dict[str, dict[str, Any]]) -> None:
    """The harness figures added to the generation results of the suite's metrics (its time
    is not: the speed section measures generation and scoring; `harness.seconds` has it)."""
    for result in results:
        result["scores"] = [*result["scores"], *harness[result["label"]]["scores"]]


def section(spec: EvalSuite, harness: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The metrics file's `harness` section: what ran, per task (the same for every model)."""
    import lm_eval

    assert spec.harness is not None
    first = next(iter(harness.values()))
    return {
        "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
        "num_fewshot": spec.harness.num_fewshot,
        "limit": spec.harness.limit,
        "tasks": first["tasks"],
        "seconds": {label: round(result["seconds"], 3) for label, result in harness.items()},
    }


def raw_json(harness: dict[str, dict[str, Any]]) -> str:
    """`harness.json` in the stage's folder: the harness's own result tables per model."""
    body = {label: result["raw"] for label, result in harness.items()}
    return json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"


def report_lines(spec: EvalSuite, metrics: dict[str, Any]) -> list[str]:
    """The report's harness section (the figures themselves are in the report's table)."""
    info = metrics["harness"]
    z_note = (
        f"intervals are ±z·stderr of the harness ({spec.bootstrap.confidence:.0%})"
        if spec.bootstrap.samples
        else "no intervals (bootstrap.samples is 0)"
    )
    lines = ["", "## lm-evaluation-harness tasks", "", f"lm-eval {info['lm_eval_version']}; {z_note}.", ""]
    lines += ["| task | documents | few-shot | version |", "| --- | --- | --- | --- |"]
    for task, facts in info["tasks"].items():
        lines.append(f"| {task} | {facts['n']} | {facts['num_fewshot']} | {facts['version']} |")
    return lines


def harness_report(config: EvalConfig, metrics: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The whole report of a suite with harness tasks only."""
    spec = config.spec
    keys = list(dict.fromkeys(s.key for r in results for s in r["scores"]))
    lines = [f"# {config.stage}", "", "| model | role | " + " | ".join(keys) + " |"]
    lines.append("| --- | --- | " + " | ".join("---" for _ in keys) + " |")
    roles = {w.label: "model" for w in config.inputs.models} | {
        w.label: "baseline" for w in config.inputs.baselines
    }
    for result in results:
        by_key = {s.key: s for s in result["scores"]}
        cells = [_figure(by_key[k]) if k in by_key else "" for k in keys]
        lines.append(f"| {result['label']} | {roles[result['label']]} | " + " | ".join(cells) + " |")
    if config.inputs.baselines:
        lines += ["", "## Against the baselines", ""]
    for model, against in metrics["deltas"].items():
        for base, deltas in against.items():
            parts = [f"{key} {delta:+.4f}" for key, delta in deltas.items()]
            lines.append(f"- `{model}` vs `{base}`: " + ", ".join(parts))
    return "\n".join(lines + report_lines(spec, metrics)) + "\n"


def _figure(score: Score) -> str:
    if score.ci_low is None or score.ci_high is None:
        return f"{score.value:.4f}"
    return f"{score.value:.4f} [{score.ci_low:.4f}, {score.ci_high:.4f}]"


def run_harness_only(config: EvalConfig, root: Path) -> None:
    """The eval stage of a suite with harness tasks and no metrics: no split, no prompt."""
    from llmops.atomic import replace_dir, write_text
    from llmops.runners.eval.run import build_metrics, scores_csv

    harness = run_all(config, root)
    results = [
        {
            "label": label,
            "scores": item["scores"],
            "predictions": [],
            "generation_s": item["seconds"],
            "scoring_s": 0.0,
            "engine": "lm-eval",
        }
        for label, item in harness.items()
    ]
    n_models = len(config.inputs.models)
    metrics = build_metrics(config.spec, results[:n_models], results[n_models:])
    metrics.pop("split")  # no split of a Dataset was read, and no predictions counted
    for group in ("models", "baselines"):
        for figures in metrics[group].values():
            figures.pop("n")
    metrics["harness"] = section(config.spec, harness)
    with replace_dir(root / config.outputs.outs[0]) as staging:
        (staging / "harness.json").write_text(raw_json(harness), encoding="utf-8")
        (staging / "run.json").write_text(
            json.dumps(
                {
                    "stage": config.stage,
                    "runner_version": config.runner_version,
                    "seed": config.inputs.seed,
                    "engine": "lm-eval",
                },
                indent=2,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
    for path in config.outputs.plots:
        write_text(root / path, scores_csv(results[:n_models], results[n_models:]))
    for path in config.outputs.reports:
        write_text(root / path, harness_report(config, metrics, results))
    for path in config.outputs.metrics:
        write_text(root / path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
