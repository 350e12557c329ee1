"""The plots each stage kind writes, and how `dvc plots` draws them.

One list, read by the compiler (to declare them in dvc.yaml) and by the runner (to write the
files with these names), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

# (file, template, x, y, title, x_label, y_label). `bar_horizontal` stacks its bars from zero and
# puts revisions side by side, so `dvc plots diff` compares two runs' distributions bin by bin.
DATA_PLOTS = (
    (
        "length_chars.csv",
        "bar_horizontal",
        "count",
        "bin",
        "Text length (characters)",
        "records",
        "characters",
    ),
    ("length_tokens.csv", "bar_horizontal", "count", "bin", "Text length (tokens)", "records", "tokens"),
    (
        "label_balance.csv",
        "bar_horizontal",
        "share",
        "group",
        "Label share per split",
        "share",
        "label (split)",
    ),
    ("cleaning.csv", "bar_horizontal", "rows_out", "step", "Rows after each cleaning step", "rows", "step"),
)


# The eval stage's scores: one bar per model and figure, revisions side by side in `dvc plots diff`.
EVAL_PLOTS = (("scores.csv", "bar_horizontal", "value", "model_figure", "Scores", "score", "model: figure"),)


def plot_definitions(folder: str, plots: tuple[tuple[str, ...], ...] = DATA_PLOTS) -> list[dict[str, Any]]:
    """Stage-level `plots:` entries for dvc.yaml, one per plot file in `folder`."""
    base = folder.rstrip("/")
    return [
        {
            f"{base}/{name}": {
                "cache": False,
                "template": template,
                "x": x,
                "y": y,
                "title": title,
                "x_label": x_label,
                "y_label": y_label,
            }
        }
        for name, template, x, y, title, x_label, y_label in plots
    ]
