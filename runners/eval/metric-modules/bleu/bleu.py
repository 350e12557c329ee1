"""BLEU with the interface of the Hub's `bleu` module, counted by sacreBLEU.

Why it exists: `evaluate.load("bleu")` downloads its script from the Hugging Face Hub, so it fails
on a machine without network. llmops ships this module and loads it by path. It takes the same
arguments and returns the same keys as the Hub module (score between 0 and 1, no smoothing by
default), but the n-gram counting is sacreBLEU's, so tokenisation is its `13a` tokenizer by
default and `tokenize`/`lowercase` can be changed.

One difference: with several references per prediction the reference length is the one closest
to the prediction's length (sacreBLEU, as in mteval-v13a), where the Hub module takes the shortest.
With one reference each, the two modules give the same score.
"""

import math

import datasets
import evaluate
import sacrebleu

_CITATION = """\
@inproceedings{papineni-etal-2002-bleu,
    title = "{B}leu: a Method for Automatic Evaluation of Machine Translation",
    author = "Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing",
    booktitle = "Proceedings of ACL 2002",
    year = "2002",
    pages = "311--318",
}
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    pages = "186--191",
}
"""

_DESCRIPTION = """\
Corpus BLEU: the geometric mean of modified n-gram precisions (n = 1..max_order) times a brevity
penalty, between 0 and 1. Same interface as the Hub's `bleu` module; counts come from sacreBLEU.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the texts to score.
    references (list of str, or list of lists of str): one or more references per prediction.
    max_order (int): the longest n-gram; defaults to 4.
    smooth (bool): add-one smoothing of every precision (Lin and Och, 2004); defaults to False.
    tokenize (str): a sacreBLEU tokenizer ("13a", "intl", "char", "none", ...); defaults to "13a".
    lowercase (bool): compare lowercased texts; defaults to False.
    return_statistics (bool): also return sacreBLEU's per-prediction statistics; defaults to False.
Returns:
    bleu, precisions (one per order), brevity_penalty, length_ratio, translation_length,
    reference_length; with return_statistics, statistics: per prediction [hypothesis length,
    reference length, matches per order, n-grams per order] (llmops' bootstrap sums them).
Examples:
    >>> bleu = evaluate.load("path/to/bleu")
    >>> bleu.compute(predictions=["the cat sat"], references=[["the cat sat"]])["bleu"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Bleu(evaluate.Metric):
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
            reference_urls=["https://en.wikipedia.org/wiki/BLEU"],
        )

    def _compute(
        self,
        predictions,
        references,
        max_order: int = 4,
        smooth: bool = False,
        tokenize: str = "13a",
        lowercase: bool = False,
        return_statistics: bool = False,
    ) -> dict:
        predictions, streams = list(predictions), _reference_streams(references)
        counter = sacrebleu.BLEU(
            tokenize=tokenize, lowercase=lowercase, max_ngram_order=max_order, smooth_method="none"
        )
        # What BLEU.corpus_score does, keeping the per-segment statistics for the caller.
        counter._check_corpus_score_args(predictions, streams)
        statistics = counter._extract_corpus_statistics(predictions, streams)
        # smooth_method="none" leaves the raw counts in the result; the Hub's formula is applied here.
        counted = counter._aggregate_and_compute(statistics)
        result = bleu_from_counts(
            counted.counts,
            counted.totals,
            counted.sys_len,
            counted.ref_len,
            max_order=max_order,
            smooth=smooth,
        )
        if return_statistics:
            result["statistics"] = statistics
        return result


def bleu_from_counts(
    matches: list,
    possible: list,
    translation_length: int,
    reference_length: int,
    *,
    max_order: int,
    smooth: bool,
) -> dict:
    """The Hub module's (tensorflow/nmt) BLEU formula on sacreBLEU's corpus counts."""
    if smooth:
        precisions = [(matches[i] + 1.0) / (possible[i] + 1.0) for i in range(max_order)]
    else:
        precisions = [matches[i] / possible[i] if possible[i] > 0 else 0.0 for i in range(max_order)]
    if min(precisions) > 0:
        geo_mean = math.exp(sum((1.0 / max_order) * math.log(p) for p in precisions))
    else:
        geo_mean = 0.0
    if reference_length == 0 or translation_length == 0:
        ratio = brevity_penalty = 0.0
    else:
        ratio = translation_length / reference_length
        brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return {
        "bleu": geo_mean * brevity_penalty,
        "precisions": precisions,
        "brevity_penalty": brevity_penalty,
        "length_ratio": ratio,
        "translation_length": translation_length,
        "reference_length": reference_length,
    }


def _reference_streams(references) -> list:
    """sacreBLEU wants one stream per reference position; a missing reference is None."""
    rows = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max((len(r) for r in rows), default=1)
    return [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
