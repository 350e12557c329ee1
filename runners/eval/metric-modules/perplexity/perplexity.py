"""Perplexity from negative log-likelihoods the caller has already computed.

Why it differs from the Hub's `perplexity` module: that one takes a model id and texts, downloads
the model from the Hub and runs it. llmops' eval runner already holds the model (local folder,
LoRA adapter, vLLM engine) and scores the references while it generates, so this module takes
what the runner measured: per example, the sum of the negative log-likelihoods (natural log) of
the reference tokens, and how many tokens that sum covers. No model, no download, no GPU here.

`perplexity` is the corpus figure, exp(sum of nll / sum of tokens): every token weighs the same.
`perplexities` and `mean_perplexity` are the per-example figures and their mean, which is what the
Hub module calls `mean_perplexity`; an example with no tokens has no perplexity (NaN) and is left
out of that mean.
"""

import math

import datasets
import evaluate

_DESCRIPTION = """\
Perplexity, exp of the average negative log-likelihood per token, from per-example sums of
negative log-likelihoods and token counts. Lower is better.
"""

_KWARGS_DESCRIPTION = """
Args:
    nll (list of float): per example, the summed negative log-likelihood (nats) of its tokens.
    tokens (list of int): per example, how many tokens `nll` covers.
Returns:
    perplexity (corpus, token-weighted), perplexities (per example), mean_perplexity.
Examples:
    >>> perplexity = evaluate.load("path/to/perplexity")
    >>> perplexity.compute(nll=[2.0, 4.0], tokens=[2, 4])["perplexity"]
    2.718281828459045
"""

_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Perplexity(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"nll": datasets.Value("float64"), "tokens": datasets.Value("int64")}),
            reference_urls=["https://huggingface.co/docs/transformers/perplexity"],
        )

    def _compute(self, nll, tokens) -> dict:
        if any(not math.isfinite(x) for x in nll):
            raise ValueError("every negative log-likelihood must be a finite number")
        if any(t < 0 for t in tokens):
            raise ValueError("token counts cannot be negative")
        if any(t == 0 and x != 0 for x, t in zip(nll, tokens, strict=True)):
            raise ValueError("an example with no tokens must have a negative log-likelihood of 0")
        total_tokens = sum(tokens)
        if total_tokens == 0:
            raise ValueError("perplexity needs at least one token")
        per_example = [math.exp(x / t) if t else math.nan for x, t in zip(nll, tokens, strict=True)]
        defined = [p for p in per_example if not math.isnan(p)]
        return {
            "perplexity": math.exp(math.fsum(nll) / total_tokens),
            "perplexities": per_example,
            "mean_perplexity": sum(defined) / len(defined),
        }
