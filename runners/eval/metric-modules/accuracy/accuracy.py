"""Accuracy over labels given as strings (or integers), in the style of the Hub's `accuracy`.

Why it exists: `evaluate.load("accuracy")` downloads its script from the Hugging Face Hub, so it
fails on a machine without network, and it wants integer class ids (it calls scikit-learn).
A language model's labels are generated text, so this module takes strings, strips surrounding
whitespace and compares them; integers work too. `normalize` is the Hub's argument; the Hub's
`sample_weight` and multilabel inputs are not supported.
"""

import datasets
import evaluate

_DESCRIPTION = """\
The share of predictions equal to their reference label (after stripping surrounding whitespace
from string labels), or the number of them with normalize=False.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str or int): predicted labels.
    references (list of str or int): true labels.
    normalize (bool): the share (default) or the count of correct predictions.
Returns:
    accuracy.
Examples:
    >>> accuracy = evaluate.load("path/to/accuracy")
    >>> accuracy.compute(predictions=["yes", "no ", "no"], references=["yes", "no", "yes"])
    {'accuracy': 0.6666666666666666}
"""

_CITATION = ""


def label(value):
    """A label as compared: strings without surrounding whitespace."""
    return value.strip() if isinstance(value, str) else value


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
                ),
                datasets.Features(
                    {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
                ),
            ],
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"
            ],
        )

    def _compute(self, predictions, references, normalize: bool = True) -> dict:
        correct = sum(1 for p, r in zip(predictions, references, strict=True) if label(p) == label(r))
        if not normalize:
            return {"accuracy": float(correct)}
        return {"accuracy": correct / len(predictions) if len(predictions) else 0.0}
