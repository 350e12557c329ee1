"""ROUGE with the interface of the Hub's `rouge` module, computed by Google's `rouge_score`.

Why it exists: `evaluate.load("rouge")` downloads its script from the Hugging Face Hub, so it fails
on a machine without network. llmops ships this module and loads it by path. Arguments and
returned keys are the Hub module's, with one deliberate difference: with `use_aggregator=True`
(the default) each figure is the plain mean of the per-example F-measures. The Hub module reports
the median of 1,000 bootstrap means instead, which is the mean plus sampling noise; llmops puts
the bootstrap in a confidence interval rather than in the point value. `rouge_types` may also be
one comma-separated string ("rouge1,rougeL"), since spec arguments are scalars.
"""

import math

import datasets
import evaluate
from rouge_score import rouge_scorer

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    pages = "74--81",
}
"""

_DESCRIPTION = """\
ROUGE-N (n-gram overlap) and ROUGE-L / ROUGE-Lsum (longest common subsequence, per text or per
newline-separated sentence) F-measures between predictions and references, between 0 and 1.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the texts to score.
    references (list of str, or list of lists of str): one or more references per prediction
        (with several, the best-scoring reference counts).
    rouge_types (list of str or comma-separated str): defaults to rouge1, rouge2, rougeL, rougeLsum.
    use_aggregator (bool): return the mean per type (default) or the per-example lists.
    use_stemmer (bool): Porter-stem words before matching; defaults to False.
    tokenizer (callable): str -> list of tokens; defaults to rouge_score's (lowercase, a-z0-9).
Returns:
    one key per rouge type: the mean F-measure, or a list of per-example F-measures.
Examples:
    >>> rouge = evaluate.load("path/to/rouge")
    >>> rouge.compute(predictions=["the cat sat"], references=["the cat sat"], rouge_types="rouge1")
    {'rouge1': 1.0}
"""

DEFAULT_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


class _Tokenizer:
    """rouge_score wants an object with a `tokenize` method."""

    def __init__(self, tokenizer_func) -> None:
        self.tokenizer_func = tokenizer_func

    def tokenize(self, text: str) -> list:
        return self.tokenizer_func(text)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions,
        references,
        rouge_types=None,
        use_aggregator: bool = True,
        use_stemmer: bool = False,
        tokenizer=None,
    ) -> dict:
        if rouge_types is None:
            rouge_types = DEFAULT_TYPES
        elif isinstance(rouge_types, str):
            rouge_types = [t.strip() for t in rouge_types.split(",") if t.strip()]
        scorer = rouge_scorer.RougeScorer(
            rouge_types=list(rouge_types),
            use_stemmer=use_stemmer,
            tokenizer=_Tokenizer(tokenizer) if tokenizer is not None else None,
        )
        per_type = {t: [] for t in rouge_types}
        for reference, prediction in zip(references, predictions, strict=True):
            if isinstance(reference, str):
                scores = scorer.score(reference, prediction)
            else:
                scores = scorer.score_multi(list(reference), prediction)
            for rouge_type in rouge_types:
                per_type[rouge_type].append(scores[rouge_type].fmeasure)
        if not use_aggregator:
            return per_type
        return {t: (math.fsum(values) / len(values) if values else 0.0) for t, values in per_type.items()}
