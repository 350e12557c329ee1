"""F1 over labels given as strings (or integers), in the style of the Hub's `f1` module.

Why it exists: `evaluate.load("f1")` downloads its script from the Hugging Face Hub, so it fails
on a machine without network, and it wants integer class ids (it calls scikit-learn). A language
model's labels are generated text, so this module takes strings (surrounding whitespace stripped)
or integers and maps them to ids itself. The label set is every label seen in the references or
the predictions, as in scikit-learn. Unlike the Hub module, `average` defaults to "macro"
(generated labels are rarely binary); "binary" needs `pos_label`.
"""

import datasets
import evaluate

_DESCRIPTION = """\
F1 = 2 * precision * recall / (precision + recall), per class 2 TP / (2 TP + FP + FN), averaged over
classes: "macro" (unweighted mean), "weighted" (by each class's number of true examples), "micro"
(from the summed counts: the accuracy for single-label data) or "binary" (the pos_label class).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str or int): predicted labels.
    references (list of str or int): true labels.
    average (str): "macro" (default), "micro", "weighted" or "binary".
    pos_label (str or int): the positive class, for average="binary".
Returns:
    f1.
Examples:
    >>> f1 = evaluate.load("path/to/f1")
    >>> f1.compute(predictions=["a", "b", "b"], references=["a", "b", "a"])
    {'f1': 0.6666666666666666}
"""

_CITATION = ""

AVERAGES = ("macro", "micro", "weighted", "binary")


def label(value):
    """A label as compared: strings without surrounding whitespace."""
    return value.strip() if isinstance(value, str) else value


def confusion_counts(predictions, references) -> dict:
    """Per label: [true positives, false positives, false negatives]."""
    counts = {}
    for p, r in zip(predictions, references, strict=True):
        p, r = label(p), label(r)
        counts.setdefault(p, [0, 0, 0])
        counts.setdefault(r, [0, 0, 0])
        if p == r:
            counts[r][0] += 1
        else:
            counts[p][1] += 1
            counts[r][2] += 1
    return counts


def f1_from_counts(counts: dict, average: str, pos_label=None) -> float:
    def f1(tp, fp, fn):
        denominator = 2 * tp + fp + fn
        return 2 * tp / denominator if denominator else 0.0

    if not counts:
        return 0.0
    if average == "binary":
        return f1(*counts.get(label(pos_label), (0, 0, 0)))
    if average == "micro":
        return f1(*(sum(c[i] for c in counts.values()) for i in range(3)))
    scores = [f1(*c) for c in counts.values()]
    if average == "macro":
        return sum(scores) / len(scores)
    supports = [c[0] + c[2] for c in counts.values()]
    total = sum(supports)
    return sum(s * w for s, w in zip(scores, supports, strict=True)) / total if total else 0.0


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
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
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"
            ],
        )

    def _compute(self, predictions, references, average: str = "macro", pos_label=None) -> dict:
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {', '.join(AVERAGES)}, not {average!r}")
        if average == "binary" and pos_label is None:
            raise ValueError('average="binary" needs pos_label, the positive class')
        if average == "binary" and predictions and isinstance(label(predictions[0]), str):
            pos_label = str(pos_label)
        return {"f1": f1_from_counts(confusion_counts(predictions, references), average, pos_label)}
