"""Scores an eval's predictions with Hugging Face `evaluate` modules, with bootstrap intervals.

Which module: the ones llmops ships in `metric-modules/` (loaded by path, so nothing is fetched and
an offline machine scores the same as CI), unless the caller passes `prefer_hub=True` and the Hub
module is cached locally or the Hub answers; every Score records which one it used (`source`).
With HF_HUB_OFFLINE (or HF_EVALUATE_OFFLINE, HF_DATASETS_OFFLINE, TRANSFORMERS_OFFLINE) set no
network call is made; otherwise one TCP connection, given two seconds, decides.

The point value is the module's. The confidence interval comes from `bootstrap.py`, which
resamples per-example sufficient statistics (sacreBLEU's own segment statistics for BLEU and chrF),
so it costs milliseconds. Per-example scores (sentence BLEU and chrF, ROUGE, exact match, ...) are
returned alongside, for the predictions file and the worst-examples report.

A custom metric is `module.path:function` in the project. It is called as
`function(predictions, references, **args)` and returns one of: a number; a dict of numbers; a
list of per-example numbers (one per prediction); a dict of such lists (a dict may mix numbers and
lists). A number becomes a Score without an interval; a per-example list becomes its mean with an
interval and a per-example column. A single number or list is named after the function, a dict's
entries after their keys. The argument `higher_is_better` (default true) is llmops', not passed on.

The RAG metrics (recall, hit_rate, mrr, faithfulness, context_relevance) read the retrieved
passages as well (`rag_metrics.py`, given a `RagContext`); their per-example columns become
means with intervals here like everything else.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmops.compiler.kinds.evalsuite import RAG_METRICS
from llmops.errors import StageFailed
from llmops.runners.eval import bootstrap as bs
from llmops.runners.eval.custom_files import module_files, not_found
from llmops.runners.eval.modules import load_module

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import Bootstrap, Metric
    from llmops.runners.eval.rag_metrics import RagContext

# Arguments of the shipped modules that the Hub's lack: with them, the shipped module is used.
HUB_LACKS = {"bleu": {"tokenize", "lowercase"}}
# Arguments a spec cannot set: inputs, llmops' own switches, and callables.
NOT_SETTABLE = {"self", "predictions", "references", "nll", "tokens", "use_aggregator", "tokenizer"}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

log = logging.getLogger(__name__)


class MetricError(StageFailed):
    """A metric could not be computed: bad arguments, a broken custom callable, missing inputs."""


@dataclass(frozen=True)
class Score:
    metric: str  # the spec's metric name, e.g. "rouge"
    key: str  # the figure, e.g. "rougeL", "bleu", "exact_match", "f1", "perplexity"
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int  # sample size
    higher_is_better: bool
    source: str  # "llmops:rouge" / "hub:rouge" / "custom:pkg.mod:fn"


@dataclass(frozen=True)
class _Inputs:
    predictions: list[str]
    references: list[str]
    root: Path
    resamples: bs.Resamples
    confidence: float
    nll: list[float] | None
    tokens: list[int] | None
    prefer_hub: bool

    @property
    def n(self) -> int:
        return len(self.predictions)

    def interval(self, stats: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray]) -> tuple:
        return bs.interval(stats, statistic, self.resamples, self.confidence)


Result = tuple[list[Score], dict[str, list[float]]]


def score_all(
    metrics: Sequence[Metric],
    predictions: list[str],
    references: list[str],
    *,
    root: Path,
    seed: int,
    bootstrap: Bootstrap,
    nll: list[float] | None = None,
    tokens: list[int] | None = None,
    prefer_hub: bool = False,
    rag: RagContext | None = None,
) -> tuple[list[Score], dict[str, list[float]]]:
    """Every figure of every metric, and per-example scores keyed by figure.

    `metrics` are an EvalSuite's metrics, `bootstrap` its bootstrap settings. All metrics are
    resampled on the same example sets (same seed). `rag` carries the retrieved passages for the
    RAG metrics (`rag_metrics.py`).
    """
    if len(predictions) != len(references):
        raise MetricError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise MetricError("there is nothing to score: no predictions")
    inputs = _Inputs(
        list(predictions),
        list(references),
        Path(root),
        bs.Resamples(len(predictions), bootstrap.samples, seed),
        bootstrap.confidence,
        None if nll is None else [float(x) for x in nll],
        None if tokens is None else [int(t) for t in tokens],
        prefer_hub,
    )
    scores: list[Score] = []
    per_example: dict[str, list[float]] = {}
    for spec in metrics:
        args = dict(spec.args)
        label = spec.callable if spec.name == "custom" else spec.name
        if spec.name == "custom":
            found, columns = _custom(spec.callable or "", args, inputs)
        elif spec.name in RAG_METRICS:
            found, columns = _rag(spec.name, args, inputs, rag)
        else:
            _check_arguments(spec.name, args)
            try:
                found, columns = SCORERS[spec.name](args, inputs)
            except MetricError:
                raise
            except (ValueError, TypeError, KeyError, AssertionError) as err:
                raise MetricError(f"metric {spec.name} failed: {type(err).__name__}: {err}") from err
        for score in found:
            if any(s.key == score.key for s in scores):
                raise MetricError(f"two metrics report the figure {score.key!r} (the second is {label})")
        scores.extend(found)
        per_example.update({k: [float(x) for x in v] for k, v in columns.items()})
    return scores, per_example


def _check_arguments(name: str, args: dict) -> None:
    """Spec arguments must be parameters of the shipped module's `_compute` (its single source)."""
    parameters = inspect.signature(type(load_module(name)[0])._compute).parameters
    allowed = sorted(p for p in parameters if p not in NOT_SETTABLE and not p.startswith("return_"))
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "none"
        raise MetricError(f"metric {name} has no argument {', '.join(unknown)} (it takes: {takes})")


def _settings(name: str, args: dict) -> dict:
    """The metric's arguments, with the shipped module's defaults for those the spec leaves out:
    its `_compute` signature is their one source (only the spec's own are passed to a module)."""
    parameters = inspect.signature(type(load_module(name)[0])._compute).parameters
    defaults = {k: p.default for k, p in parameters.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **args}


# --- the metrics --------------------------------------------------------------------------------


def _one(inputs: _Inputs, metric: str, value: float, ci: tuple, source: str, column: Any = None) -> Result:
    """One figure named after its metric, and its per-example column if it has one."""
    score = Score(metric, metric, float(value), ci[0], ci[1], inputs.n, metric != "perplexity", source)
    return [score], ({metric: np.asarray(column, dtype=np.float64).tolist()} if column is not None else {})


def _computed(name: str, args: dict, inputs: _Inputs, hub_ok: bool = True) -> tuple[dict, np.ndarray, str]:
    """(output, per-example data, source). Asked to, the shipped module also returns its per-example
    data (sacreBLEU statistics, matches); a Hub module's value gets the shipped module's data."""
    flag, key = (
        ("return_matches", "matches") if name == "exact_match" else ("return_statistics", "statistics")
    )
    refs = inputs.references if name == "exact_match" else [[r] for r in inputs.references]
    data = {"predictions": inputs.predictions, "references": refs, **args}
    module, source = load_module(name, prefer_hub=inputs.prefer_hub and hub_ok)
    shipped = source.startswith("llmops:")
    out = module.compute(**data, **({flag: True} if shipped else {}))
    with_data = out if shipped else load_module(name)[0].compute(**data, **{flag: True})
    return out, np.asarray(with_data[key], dtype=np.float64), source


def _bleu(args: dict, inputs: _Inputs) -> Result:
    out, stats, source = _computed("bleu", args, inputs, hub_ok=not set(args) & HUB_LACKS["bleu"])
    settings = _settings("bleu", args)
    order = int(settings["max_order"])
    statistic = functools.partial(bs.hub_bleu_score, max_order=order, smooth=bool(settings["smooth"]))
    sentence = bs.sacrebleu_score(stats, max_order=order, effective_order=True) / 100
    return _one(inputs, "bleu", out["bleu"], inputs.interval(stats, statistic), source, sentence)


def _sacrebleu(args: dict, inputs: _Inputs) -> Result:
    out, stats, source = _computed("sacrebleu", args, inputs)
    settings = _settings("sacrebleu", args)
    statistic = functools.partial(
        bs.sacrebleu_score,
        smooth_method=str(settings["smooth_method"]),
        smooth_value=settings["smooth_value"],
        effective_order=bool(settings["use_effective_order"]),
    )
    sentence = bs.sacrebleu_score(stats, effective_order=True)
    return _one(inputs, "sacrebleu", out["score"], inputs.interval(stats, statistic), source, sentence)


def _chrf(args: dict, inputs: _Inputs) -> Result:
    out, stats, source = _computed("chrf", args, inputs)
    settings = _settings("chrf", args)
    statistic = functools.partial(
        bs.chrf_score,
        char_order=int(settings["char_order"]),
        word_order=int(settings["word_order"]),
        beta=int(settings["beta"]),
        eps_smoothing=bool(settings["eps_smoothing"]),
    )
    return _one(inputs, "chrf", out["score"], inputs.interval(stats, statistic), source, statistic(stats))


def _rouge(args: dict, inputs: _Inputs) -> Result:
    settings = _settings("rouge", args)
    given = settings["rouge_types"]  # None: every type
    types = [
        t.strip() for t in (",".join(ROUGE_TYPES) if given is None else str(given)).split(",") if t.strip()
    ]
    module, source = load_module("rouge", prefer_hub=inputs.prefer_hub)
    options = {
        "rouge_types": types,
        "use_stemmer": bool(settings["use_stemmer"]),
        "use_aggregator": False,
    }
    out = module.compute(predictions=inputs.predictions, references=inputs.references, **options)
    return _means(inputs, "rouge", {t: out[t] for t in types}, source)


def _exact_match(args: dict, inputs: _Inputs) -> Result:
    if isinstance(_settings("exact_match", args)["regexes_to_ignore"], str):
        args = {**args, "regexes_to_ignore": [args["regexes_to_ignore"]]}  # the Hub iterates over it
    out, matches, source = _computed("exact_match", args, inputs)
    ci = inputs.interval(matches, bs.mean_statistic(inputs.n))
    return _one(inputs, "exact_match", out["exact_match"], ci, source, matches)


def _labels(name: str, args: dict, inputs: _Inputs) -> tuple[Any, str, np.ndarray, np.ndarray, dict]:
    """The module, its source, and the labels (stripped strings) as ids, with the arguments for it:
    the Hub's accuracy and f1 modules want integer ids, the shipped ones take the strings."""
    module, source = load_module(name, prefer_hub=inputs.prefer_hub)
    refs = [r.strip() for r in inputs.references]
    preds = [p.strip() for p in inputs.predictions]
    ids = {label: i for i, label in enumerate(sorted(set(refs) | set(preds)))}
    ref_ids, pred_ids = np.array([ids[r] for r in refs]), np.array([ids[p] for p in preds])
    if source.startswith("hub:"):
        data = {"predictions": pred_ids.tolist(), "references": ref_ids.tolist(), **args}
        if "pos_label" in args:
            data["pos_label"] = ids.get(str(args["pos_label"]).strip(), -1)
    else:
        data = {"predictions": inputs.predictions, "references": inputs.references, **args}
    return module.compute(**data), source, ref_ids, pred_ids, ids


def _accuracy(args: dict, inputs: _Inputs) -> Result:
    out, source, ref_ids, pred_ids, _ = _labels("accuracy", args, inputs)
    correct = (ref_ids == pred_ids).astype(np.float64)
    scale = 1.0 if _settings("accuracy", args)["normalize"] else float(inputs.n)
    ci = inputs.interval(correct, bs.mean_statistic(inputs.n, scale))
    return _one(inputs, "accuracy", out["accuracy"], ci, source, correct)


def _f1(args: dict, inputs: _Inputs) -> Result:
    settings = _settings("f1", args)
    args = {"average": settings["average"], **args}  # the Hub module's default is "binary"
    out, source, ref_ids, pred_ids, ids = _labels("f1", args, inputs)
    pos = ids.get(str(settings["pos_label"]).strip()) if settings["pos_label"] is not None else None
    average, resamples = str(settings["average"]), inputs.resamples
    ci = bs.f1_interval(ref_ids, pred_ids, len(ids), average, pos, resamples, inputs.confidence)
    return _one(inputs, "f1", out["f1"], ci, source)


def _perplexity(args: dict, inputs: _Inputs) -> Result:
    nll, tokens = inputs.nll, inputs.tokens
    if nll is None or tokens is None:
        raise MetricError("metric perplexity needs the runner's per-example nll and token counts")
    if len(nll) != inputs.n or len(tokens) != inputs.n:
        raise MetricError(
            f"metric perplexity: {len(nll)} nll values and {len(tokens)} token counts "
            f"for {inputs.n} predictions"
        )
    module, source = load_module("perplexity")
    out = module.compute(nll=nll, tokens=tokens)
    ci = inputs.interval(np.column_stack([nll, tokens]).astype(np.float64), bs.perplexity_statistic)
    return _one(inputs, "perplexity", out["perplexity"], ci, source, out["perplexities"])


def _means(inputs: _Inputs, metric: str, columns: dict[str, Any], source: str, higher: bool = True) -> Result:
    """A Score per per-example column: its mean, with an interval."""
    scores, per_example = [], {}
    for key, values in columns.items():
        column = np.asarray(values, dtype=np.float64)
        ci = inputs.interval(column, bs.mean_statistic(inputs.n))
        value = math.fsum(column.tolist()) / inputs.n
        scores.append(Score(metric, key, value, ci[0], ci[1], inputs.n, higher, source))
        per_example[key] = column.tolist()
    return scores, per_example


def _rag(name: str, args: dict, inputs: _Inputs, rag: RagContext | None) -> Result:
    """A RAG metric's per-example columns (rag_metrics.py), as means with intervals."""
    from llmops.runners.eval.rag_metrics import compute

    if rag is None:
        raise MetricError(
            f"metric {name} scores retrieval, but the suite's prompt has no `retrieval` block "
            "(add one to the Prompt, or remove the metric)"
        )
    columns, source = compute(name, args, inputs.predictions, inputs.references, rag)
    return _means(inputs, name, columns, source)


SCORERS: dict[str, Callable[[dict, _Inputs], Result]] = {
    "bleu": _bleu,
    "sacrebleu": _sacrebleu,
    "chrf": _chrf,
    "rouge": _rouge,
    "exact_match": _exact_match,
    "accuracy": _accuracy,
    "f1": _f1,
    "perplexity": _perplexity,
}


# --- custom metrics -----------------------------------------------------------------------------


def _custom(target: str, args: dict, inputs: _Inputs) -> Result:
    higher = bool(args.pop("higher_is_better", True))
    with _no_bytecode():  # the module's own imports may come later, inside the call
        function = _import_callable(target, inputs.root)
        try:
            result = function(list(inputs.predictions), list(inputs.references), **args)
        except Exception as err:
            raise MetricError(f"custom metric {target} raised {type(err).__name__}: {err}") from err
    name = target.rsplit(":", 1)[1]
    entries = result.items() if isinstance(result, dict) else [(name, result)]
    numbers: dict[str, float] = {}
    columns: dict[str, list[float]] = {}
    for key, value in entries:
        if _is_number(value):
            numbers[str(key)] = float(value)
        elif (
            isinstance(value, list | tuple | np.ndarray)
            and len(value) == inputs.n
            and all(map(_is_number, value))
        ):
            columns[str(key)] = [float(v) for v in value]
        else:
            raise MetricError(
                f"custom metric {target} returned {_describe(value)} for {key!r}; expected a finite "
                f"number or a list of {inputs.n} (one per prediction), or a dict of those"
            )
    source = f"custom:{target}"
    scores = [Score("custom", k, v, None, None, inputs.n, higher, source) for k, v in numbers.items()]
    mean_scores, per_example = _means(inputs, "custom", columns, source, higher)
    return scores + mean_scores, per_example


@contextlib.contextmanager
def _no_bytecode() -> Iterator[None]:
    """No `__pycache__` written while a custom metric loads and runs: its package folder is a
    DVC dependency of the eval stage (compiler/stages/eval.py), whose hash a new file changes."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


def _import_callable(target: str, root: Path) -> Callable[..., Any]:
    """`module.path:function` imported with the project root first on sys.path (for this import only)."""
    module_name, _, function_name = target.partition(":")
    folder = str(Path(root).resolve())
    if module_files(module_name, Path(root)) is None:
        raise MetricError(
            f"custom metric {target}: cannot import {module_name} from {folder}: {not_found(module_name)}"
        )
    sys.path.insert(0, folder)
    try:
        importlib.invalidate_caches()
        module = importlib.import_module(module_name)
    except Exception as err:
        raise MetricError(
            f"custom metric {target}: cannot import {module_name} from {folder}: {type(err).__name__}: {err}"
        ) from err
    finally:
        sys.path.remove(folder)
    function = getattr(module, function_name, None)
    if not callable(function):
        what = "has no" if function is None else "has a non-callable"
        raise MetricError(f"custom metric {target}: {module_name} {what} {function_name}")
    return function  # type: ignore[no-any-return]


def _is_number(value: Any) -> bool:
    numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    return numeric and math.isfinite(float(value))


def _describe(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return f"a sequence of {len(value)}"
    return f"{type(value).__name__} {value!r}"[:80]
