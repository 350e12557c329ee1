"""The run-time half of the metric-fit warning (the compile-time half: compiler/metric_fit.py).

The compiler sees only the specs; the runner sees the references. Label metrics (accuracy, f1)
compare answers with the reference as whole strings, so on free text they score almost every
answer 0 without failing: the stage warns when most references are multi-word and mostly
distinct, which labels never are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LABEL_METRICS = ("accuracy", "f1")
MIN_WORDS = 3  # a reference of this many words or more reads as a sentence, not a label


def free_text_warning(metrics: Sequence[Any], references: Sequence[str]) -> str | None:
    """A warning when a label metric scores free-text references, else None."""
    names = sorted({m.name for m in metrics if m.name in LABEL_METRICS})
    if not names or not references:
        return None
    n = len(references)
    wordy = sum(len(str(r).split()) >= MIN_WORDS for r in references)
    distinct = len({str(r).strip() for r in references})
    if wordy * 2 < n or distinct * 2 < n:
        return None
    return (
        f"{' and '.join(names)} compare{'s' if len(names) == 1 else ''} whole strings, but {wordy} of "
        f"{n} references have {MIN_WORDS}+ words and {distinct} are distinct: this is free text, which "
        "scores nearly every answer 0; use rouge, chrf or a judged metric (judge_rubric, judge_pairwise)"
    )
