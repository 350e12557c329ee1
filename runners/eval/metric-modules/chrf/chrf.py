"""sacreBLEU's chrF / chrF++ with the interface of the Hub's `chrf` module.

Why it exists: `evaluate.load("chrf")` downloads its script from the Hugging Face Hub, so it fails
on a machine without network. llmops ships this module and loads it by path. Arguments and
returned keys are the Hub module's; the score is `sacrebleu.corpus_chrf`'s (between 0 and 100).
Unlike the Hub module, a prediction may have fewer references than another (missing ones are
passed to sacreBLEU as None).
"""

import datasets
import evaluate
import sacrebleu

_CITATION = """\
@inproceedings{popovic-2015-chrf,
    title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
    author = "Popovi{\'c}, Maja",
    booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
    year = "2015",
    pages = "392--395",
}
"""

_DESCRIPTION = """\
chrF: an F-score (recall weighted by beta) over character n-grams, and with word_order > 0 also
word n-grams (chrF++). Robust to morphology and tokenisation; between 0 and 100.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the texts to score.
    references (list of str, or list of lists of str): one or more references per prediction.
    char_order (int): the longest character n-gram; defaults to 6.
    word_order (int): the longest word n-gram; 0 (chrF) by default, 2 gives chrF++.
    beta (int): recall is beta times as important as precision; defaults to 2.
    lowercase (bool): compare lowercased texts; defaults to False.
    whitespace (bool): keep whitespace in character n-grams; defaults to False.
    eps_smoothing (bool): chrF++.py / NLTK / Moses smoothing instead of effective order.
    return_statistics (bool): also return sacreBLEU's per-prediction statistics; defaults to False.
Returns:
    score, char_order, word_order, beta; with return_statistics, statistics: per prediction and
    n-gram order [prediction, reference, matched n-grams] (llmops' bootstrap sums them).
Examples:
    >>> chrf = evaluate.load("path/to/chrf")
    >>> chrf.compute(predictions=["the cat sat"], references=[["the cat sat"]])["score"]
    100.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Chrf(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(
                            datasets.Value("string", id="sequence"), id="references"
                        ),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
            reference_urls=["https://github.com/m-popovic/chrF"],
        )

    def _compute(
        self,
        predictions,
        references,
        char_order: int = 6,
        word_order: int = 0,
        beta: int = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
        return_statistics: bool = False,
    ) -> dict:
        scorer = sacrebleu.CHRF(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )
        # What CHRF.corpus_score does, keeping the per-segment statistics for the caller.
        predictions, streams = list(predictions), _reference_streams(references)
        scorer._check_corpus_score_args(predictions, streams)
        statistics = scorer._extract_corpus_statistics(predictions, streams)
        output = scorer._aggregate_and_compute(statistics)
        result = {"score": output.score, "char_order": char_order, "word_order": word_order, "beta": beta}
        if return_statistics:
            result["statistics"] = statistics
        return result


def _reference_streams(references) -> list:
    """sacreBLEU wants one stream per reference position; a missing reference is None."""
    rows = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max((len(r) for r in rows), default=1)
    return [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
