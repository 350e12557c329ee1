"""sacreBLEU's corpus BLEU with the interface of the Hub's `sacrebleu` module.

Why it exists: `evaluate.load("sacrebleu")` downloads its script from the Hugging Face Hub, so it
fails on a machine without network. llmops ships this module and loads it by path. Arguments and
returned keys are the Hub module's; the score is `sacrebleu.corpus_bleu`'s (between 0 and 100).
Unlike the Hub module, a prediction may have fewer references than another: the missing ones are
passed to sacreBLEU as None, which it skips.
"""

import datasets
import evaluate
import sacrebleu

_CITATION = """\
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    pages = "186--191",
}
"""

_DESCRIPTION = """\
sacreBLEU corpus BLEU (0 to 100) with its standard tokenisation and smoothing, so that scores are
comparable across papers and runs.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the texts to score.
    references (list of str, or list of lists of str): one or more references per prediction.
    smooth_method (str): "none", "floor", "add-k" or "exp"; defaults to "exp".
    smooth_value (float): the value for "floor" and "add-k"; defaults to sacreBLEU's.
    force (bool): do not warn about already tokenised input; defaults to False.
    lowercase (bool): compare lowercased texts; defaults to False.
    tokenize (str): a sacreBLEU tokenizer; defaults to "13a".
    use_effective_order (bool): skip orders without n-grams (for sentence BLEU); defaults to False.
    return_statistics (bool): also return sacreBLEU's per-prediction statistics; defaults to False.
Returns:
    score, counts, totals, precisions, bp, sys_len, ref_len; with return_statistics,
    statistics: per prediction [hypothesis length, reference length, matches per order, n-grams
    per order] (llmops' bootstrap sums them).
Examples:
    >>> sacrebleu = evaluate.load("path/to/sacrebleu")
    >>> sacrebleu.compute(predictions=["the cat sat"], references=[["the cat sat"]])["score"]
    100.00000000000004
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
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
            reference_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(
        self,
        predictions,
        references,
        smooth_method: str = "exp",
        smooth_value=None,
        force: bool = False,
        lowercase: bool = False,
        tokenize=None,
        use_effective_order: bool = False,
        return_statistics: bool = False,
    ) -> dict:
        # What sacrebleu.corpus_bleu does, keeping the per-segment statistics for the caller.
        predictions, streams = list(predictions), _reference_streams(references)
        counter = sacrebleu.BLEU(
            lowercase=lowercase,
            force=force,
            tokenize=tokenize or None,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            effective_order=use_effective_order,
        )
        counter._check_corpus_score_args(predictions, streams)
        statistics = counter._extract_corpus_statistics(predictions, streams)
        output = counter._aggregate_and_compute(statistics)
        result = {
            "score": output.score,
            "counts": output.counts,
            "totals": output.totals,
            "precisions": output.precisions,
            "bp": output.bp,
            "sys_len": output.sys_len,
            "ref_len": output.ref_len,
        }
        if return_statistics:
            result["statistics"] = statistics
        return result


def _reference_streams(references) -> list:
    """sacreBLEU wants one stream per reference position; a missing reference is None."""
    rows = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max((len(r) for r in rows), default=1)
    return [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
