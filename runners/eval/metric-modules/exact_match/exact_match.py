"""Exact match with the interface of the Hub's `exact_match` module.

Why it exists: `evaluate.load("exact_match")` downloads its script from the Hugging Face Hub, so
it fails on a machine without network. llmops ships this module and loads it by path. Arguments,
the order of the normalisation steps and the returned key are the Hub module's; with
`return_matches=True` it also returns the per-example matches (llmops' bootstrap resamples them).
`regexes_to_ignore` may be one string (spec arguments are scalars) or a list of strings.
"""

import re
import string

import datasets
import evaluate

_DESCRIPTION = """\
The share of predictions equal to their reference, after optional normalisation: removing text
that matches regular expressions, lowercasing, removing punctuation, removing digits (in that
order). Between 0 and 1.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the texts to score.
    references (list of str): one reference per prediction.
    regexes_to_ignore (str or list of str): patterns removed before comparing; defaults to None.
    ignore_case (bool): lowercase both texts; defaults to False.
    ignore_punctuation (bool): remove string.punctuation; defaults to False.
    ignore_numbers (bool): remove string.digits; defaults to False.
    return_matches (bool): also return the per-example matches; defaults to False.
Returns:
    exact_match: the share of exact matches; with return_matches, matches: 1.0 or 0.0 per example.
Examples:
    >>> exact_match = evaluate.load("path/to/exact_match")
    >>> exact_match.compute(predictions=["Paris", "rome"], references=["Paris", "Rome"], ignore_case=True)
    {'exact_match': 1.0}
"""

_CITATION = ""

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


def normalize(
    texts,
    regexes_to_ignore=None,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    ignore_numbers: bool = False,
) -> list:
    """The texts as the Hub module compares them."""
    texts = [str(t) for t in texts]
    if isinstance(regexes_to_ignore, str):
        regexes_to_ignore = [regexes_to_ignore]
    for pattern in regexes_to_ignore or []:
        compiled = re.compile(pattern)
        texts = [compiled.sub("", t) for t in texts]
    if ignore_case:
        texts = [t.lower() for t in texts]
    if ignore_punctuation:
        texts = [t.translate(_PUNCTUATION) for t in texts]
    if ignore_numbers:
        texts = [t.translate(_DIGITS) for t in texts]
    return texts


def matches(predictions, references, **options) -> list:
    """1.0 where a prediction equals its reference after `normalize`, else 0.0.

    A prediction that normalisation empties matches only if it equalled its reference before: a
    pattern that deletes both texts whole does not make them equal (as in the Hub module since it
    guarded against exactly that).
    """
    return [
        1.0 if p == r and (p != "" or raw_p == raw_r) else 0.0
        for p, r, raw_p, raw_r in zip(
            normalize(predictions, **options),
            normalize(references, **options),
            predictions,
            references,
            strict=True,
        )
    ]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ExactMatch(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string", id="sequence"),
                    "references": datasets.Value("string", id="sequence"),
                }
            ),
            reference_urls=[],
        )

    def _compute(
        self,
        predictions,
        references,
        regexes_to_ignore=None,
        ignore_case: bool = False,
        ignore_punctuation: bool = False,
        ignore_numbers: bool = False,
        return_matches: bool = False,
    ) -> dict:
        scores = matches(
            predictions,
            references,
            regexes_to_ignore=regexes_to_ignore,
            ignore_case=ignore_case,
            ignore_punctuation=ignore_punctuation,
            ignore_numbers=ignore_numbers,
        )
        result = {"exact_match": sum(scores) / len(scores) if scores else 0.0}
        if return_matches:
            result["matches"] = scores
        return result
