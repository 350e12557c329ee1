"""The eval stage's Markdown report: scores with intervals, deltas against baselines, and the
examples where the model did worst, which is where a reviewer should start reading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import EvalSuite

WORST = 5
PREFERRED = ("rougeL", "chrf", "bleu", "sacrebleu", "f1", "exact_match", "accuracy")


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("<", "&lt;")


def _figure(score: Any) -> str:
    if score.ci_low is None:
        return f"{score.value:.4f}"
    return f"{score.value:.4f} [{score.ci_low:.4f}, {score.ci_high:.4f}]"


def render_report(
    stage: str,
    spec: EvalSuite,
    metrics: dict[str, Any],
    models: list[dict],
    baselines: list[dict],
    retrieval: Any = None,
) -> str:
    everyone = models + baselines
    keys = [s.key for s in everyone[0]["scores"]]
    confidence = spec.bootstrap.confidence
    lines = [
        f"# {stage}",
        "",
        f"{len(everyone[0]['predictions'])} examples of the `{spec.split}` split; "
        f"intervals are {confidence:.0%} bootstrap intervals ({spec.bootstrap.samples} resamples).",
        "",
        "| model | role | " + " | ".join(keys) + " |",
        "| --- | --- | " + " | ".join("---" for _ in keys) + " |",
    ]
    for role, group in (("model", models), ("baseline", baselines)):
        for result in group:
            by_key = {s.key: s for s in result["scores"]}
            cells = [_figure(by_key[k]) if k in by_key else "" for k in keys]
            lines.append(f"| {_cell(result['label'])} | {role} | " + " | ".join(cells) + " |")
    if baselines:
        lines += ["", "## Against the baselines", ""]
        for model, against in metrics["deltas"].items():
            for base, deltas in against.items():
                direction = metrics.get("_directions", {})
                parts = []
                for key, delta in deltas.items():
                    better = (delta < 0) if direction.get(key) == "lower" else (delta > 0)
                    mark = "same" if delta == 0 else ("better" if better else "worse")
                    parts.append(f"{key} {delta:+.4f} ({mark})")
                lines.append(f"- `{_cell(model)}` vs `{_cell(base)}`: " + ", ".join(parts))
    from llmops.runners.eval.rag_eval import report_lines

    lines += report_lines(retrieval, _cell)
    for result in models:
        key = next((k for k in PREFERRED if k in result["per_example"]), None)
        if key is None:
            continue
        values = result["per_example"][key]
        order = sorted(range(len(values)), key=lambda i: (values[i], i))[:WORST]
        lines += [
            "",
            f"## Worst examples of `{_cell(result['label'])}` by {key}",
            "",
            f"| # | {key} | input | reference | prediction |",
            "| --- | --- | --- | --- | --- |",
        ]
        for i in order:
            lines.append(
                f"| {i + 1} | {values[i]:.3f} | {_cell(result['prompts'][i])} | "
                f"{_cell(result['references'][i])} | {_cell(result['predictions'][i])} |"
            )
    speed = metrics["speed"]
    lines += [
        "",
        f"Generation engine: {speed['engine']}; {speed['examples_per_s']} examples/s including scoring; "
        f"scoring took {speed['scoring_share']:.1%} of the time (after loading the metric modules "
        f"once, {speed.get('metric_load_s', 0):.1f}s)."
        if speed["scoring_share"] is not None
        else "",
        "",
    ]
    return "\n".join(lines)
