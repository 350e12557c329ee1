"""Metric-fit warnings: an EvalSuite metric that runs but cannot mean what a gate assumes.

`accuracy` on free-text answers scores every answer 0 (an answer matches only when it is the
reference character for character), and a gate reading it fails or passes for no reason a
person would give; BLEU on one-word labels measures nothing a label metric does not measure
better. These are warnings, not errors: a project may know what it is doing (a short-answer
QA set where exact_match is the point). `llmops validate` and `llmops compile` print them to
stderr; the eval runner warns again at run time when it sees the references (runners/eval/fit.py).

A suite's task counts as labels when its Dataset declares `labels` and the suite's Prompt takes
its reference (`completion`) from the labels column; anything else is free text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.compiler.kinds.evalsuite import JUDGED_METRICS

if TYPE_CHECKING:
    from llmops.compiler.parse import SpecFile
    from llmops.compiler.resolve import Index
    from llmops.errors import Diagnostic

# exact_match is left out on purpose: on short-answer QA (SQuAD-style) it is the standard figure,
# and the specs cannot tell a short answer from a long one; the runner's check sees the data
LABEL_METRICS = ("accuracy", "f1")
TEXT_METRICS = ("bleu", "sacrebleu", "chrf", "rouge")


def metric_fit(index: Index) -> list[Diagnostic]:
    """Every metric of every EvalSuite that does not fit its task, as warnings (sorted)."""
    found: list[Diagnostic] = []
    for sf in index.all("EvalSuite"):
        found += suite_fit(sf, index)
    return sorted(found)


def _labelled(sf: SpecFile, index: Index) -> bool | None:
    """True: the references are labels; False: free text; None: the suite names no dataset/prompt."""
    spec = sf.spec
    dataset = index.by_kind.get("Dataset", {}).get(spec.dataset or "")
    prompt = index.by_kind.get("Prompt", {}).get(spec.prompt or "")
    if dataset is None or prompt is None:
        return None
    labels = dataset.spec.labels
    return labels is not None and prompt.spec.completion == labels.column


def suite_fit(sf: SpecFile, index: Index) -> list[Diagnostic]:
    spec = sf.spec
    metrics = list(spec.metrics or [])
    labelled = _labelled(sf, index)
    judged = any(m.name in JUDGED_METRICS for m in metrics)
    found = []
    for i, metric in enumerate(metrics):
        if labelled is False and metric.name in LABEL_METRICS:
            found.append(
                sf.at(
                    "metrics",
                    i,
                    "name",
                    message=f"{metric.name} compares answers with the reference character for "
                    f"character, but Dataset '{spec.dataset}' has free-text answers (no `labels` column "
                    "is the Prompt's completion): it scores nearly every answer 0",
                    hint="use rouge, chrf or a judged metric (judge_rubric, judge_pairwise) for free text",
                )
            )
        elif labelled is True and metric.name in TEXT_METRICS:
            found.append(
                sf.at(
                    "metrics",
                    i,
                    "name",
                    message=f"{metric.name} measures word overlap, but the references of Dataset "
                    f"'{spec.dataset}' are labels",
                    hint="use accuracy or f1 for labels",
                )
            )
        elif metric.name == "perplexity" and judged:
            found.append(
                sf.at(
                    "metrics",
                    i,
                    "name",
                    message="perplexity scores how likely the model finds the reference answer, "
                    "not the answers it gave that the judge grades; the two may disagree",
                    hint="gate on the judged figures; keep perplexity as a diagnostic only",
                )
            )
    return found
