"""The select stage: `tune-<finetune>` of a FineTune with a sweep.

Reads every trial's metrics file, picks the best trial by the sweep's metric and goal (a tie
goes to the first trial in sweep order), copies its model folder to where a plain tune stage
writes its model, and writes the winner's metrics with a `sweep` summary and a Markdown report
that says why it won. Everything is checked before anything is written; the model folder is
built next to its target and swapped in whole, so a failure leaves the previous outputs alone.

No ML library is imported: this only reads JSON and copies files.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed

if TYPE_CHECKING:
    from llmops.compiler.stages.select import SelectConfig
    from llmops.compiler.stages.select import Trial as TrialEntry

_MISSING = object()


@dataclass(frozen=True)
class Trial:
    name: str
    params: dict[str, Any]
    model: str
    metrics_file: str
    metrics: dict[str, Any]
    value: float


def run(config: SelectConfig, root: Path) -> None:
    inputs, outputs, stage = config.inputs, config.outputs, config.stage
    metric, goal = inputs.metric, inputs.goal
    trials = [_read_trial(entry, metric, root) for entry in inputs.trials]
    if not trials:
        raise StageFailed(f"{stage}: the sweep has no trials")
    ranked = rank(trials, goal)
    best = ranked[0]
    source = root / best.model
    if not source.is_dir():
        raise StageFailed(f"{stage}: the best trial {best.name} has no model folder {best.model}")

    with replace_dir(root / outputs.outs[0]) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
    summary = {
        "metric": metric,
        "goal": goal,
        "best": best.name,
        "best_params": best.params,
        "best_value": best.value,
        "trials": [{"name": t.name, "params": t.params, "value": t.value} for t in trials],
    }
    document = {**best.metrics, "sweep": summary}
    write_text(root / outputs.metrics[0], json.dumps(document, indent=2, sort_keys=True) + "\n")
    if outputs.reports:
        write_text(root / outputs.reports[0], report(config.spec.name, metric, goal, ranked, trials))


def rank(trials: list[Trial], goal: str) -> list[Trial]:
    """Best first; a stable sort, so equal values keep sweep order and the first one wins."""
    sign = 1.0 if goal == "minimize" else -1.0
    return sorted(trials, key=lambda t: sign * t.value)


def metric_value(metrics: Any, metric: str) -> Any:
    """metrics[metric] when that flat key exists, else the dotted path into nested dicts."""
    if isinstance(metrics, dict) and metric in metrics:
        return metrics[metric]
    node = metrics
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def report(finetune: str, metric: str, goal: str, ranked: list[Trial], trials: list[Trial]) -> str:
    best = ranked[0]
    paths = list(dict.fromkeys(p for t in trials for p in t.params))
    lines = [
        f"# Sweep of FineTune `{finetune}`",
        "",
        f"{len(trials)} trial{'s' if len(trials) != 1 else ''}, ranked by `{metric}` ({goal}).",
        "",
        why(metric, goal, ranked),
        "",
        "| rank | trial | " + " | ".join(f"`{p}`" for p in paths) + f" | `{metric}` |",
        "| ---: | --- | " + " | ".join("---:" for _ in paths) + " | ---: |",
    ]
    for i, trial in enumerate(ranked, start=1):
        cells = [_label(trial.params.get(p, "")) for p in paths]
        mark = " **(selected)**" if trial is best else ""
        lines.append(f"| {i} | `{trial.name}`{mark} | " + " | ".join(cells) + f" | {_num(trial.value)} |")
    return "\n".join(lines) + "\n"


def why(metric: str, goal: str, ranked: list[Trial]) -> str:
    """One sentence: the winner, its value, and its margin over the runner-up."""
    best = ranked[0]
    params = ", ".join(f"{k}={_label(v)}" for k, v in best.params.items())
    head = f"`{best.name}` ({params}) was selected"
    if len(ranked) == 1:
        return f"{head} as the only trial, with {metric} = {_num(best.value)}."
    second = ranked[1]
    margin = abs(best.value - second.value)
    if margin == 0:
        return (
            f"{head} because its {metric} of {_num(best.value)} ties the runner-up "
            f"`{second.name}` and it comes first in sweep order."
        )
    word = "lowest" if goal == "minimize" else "highest"
    side = "below" if goal == "minimize" else "above"
    return (
        f"{head} because its {metric} of {_num(best.value)} is the {word}, "
        f"{_num(margin)} {side} the runner-up `{second.name}` ({_num(second.value)})."
    )


def _read_trial(entry: TrialEntry, metric: str, root: Path) -> Trial:
    name, path = entry.name, entry.metrics
    file = root / path
    if not file.is_file():
        raise StageFailed(f"trial {name}: its metrics file {path} does not exist; did the trial run?")
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageFailed(f"trial {name}: its metrics file {path} is not valid JSON ({exc})") from exc
    if not isinstance(metrics, dict):
        raise StageFailed(f"trial {name}: its metrics file {path} does not hold a JSON object")
    value = metric_value(metrics, metric)
    if value is _MISSING:
        keys = ", ".join(sorted(metrics)) or "nothing"
        raise StageFailed(f"trial {name}: metric '{metric}' is missing from {path} (it has: {keys})")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StageFailed(f"trial {name}: metric '{metric}' in {path} is {value!r}, not a number")
    if not math.isfinite(value):
        raise StageFailed(f"trial {name}: metric '{metric}' in {path} is {value}, not a finite number")
    return Trial(name, dict(entry.params), entry.model, path, metrics, float(value))


def _num(value: float) -> str:
    return f"{value:.6g}"


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
