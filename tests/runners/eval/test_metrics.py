"""The shipped `evaluate` modules and `score_all`: hand-computed values, the libraries, the Hub policy."""

from __future__ import annotations

import math
import random
import shutil
import socket
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

evaluate = pytest.importorskip("evaluate")
sacrebleu = pytest.importorskip("sacrebleu")
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

from pydantic import ValidationError  # noqa: E402

from llmops.compiler.kinds.evalsuite import Bootstrap, Metric  # noqa: E402
from llmops.errors import LlmopsError  # noqa: E402
from llmops.runners.eval import modules, scoring  # noqa: E402
from llmops.runners.eval.scoring import MetricError, Score  # noqa: E402

ALL = ["bleu", "sacrebleu", "chrf", "rouge", "exact_match", "accuracy", "f1", "perplexity"]
BOOTSTRAP = {"samples": 200, "confidence": 0.95}


def score_all(metrics: list[dict], preds: list[str], refs: list[str], *, bootstrap: dict, **kwargs):
    """`scoring.score_all` with metric entries and bootstrap settings as a spec writes them."""
    typed = [Metric.model_validate(m) for m in metrics]
    return scoring.score_all(typed, preds, refs, bootstrap=Bootstrap.model_validate(bootstrap), **kwargs)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the network: the Hub is off, and so are sockets."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network call was attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    modules.hub_reachable.cache_clear()


def load(name: str):
    return evaluate.load(str(modules.MODULES_DIR / name), keep_in_memory=True)


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = "the a cat dog sat on mat hat big red runs over under house tree , . !".split()  # noqa: SIM905

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))

    refs = [sentence() for _ in range(n)]
    return [r if rng.random() < 0.25 else sentence() for r in refs], refs


def scores(metrics: list[dict], preds: list[str], refs: list[str], **kwargs) -> dict[str, Score]:
    kwargs = {"root": Path("."), "seed": 0, "bootstrap": BOOTSTRAP, **kwargs}
    found, _ = score_all(metrics, preds, refs, **kwargs)
    return {s.key: s for s in found}


# --- every module loads by path, offline, fast ---------------------------------------------------


def test_shipped_modules_load_offline_by_path():
    for name in ALL:
        started = time.perf_counter()
        module = load(name)
        assert isinstance(module, evaluate.Metric)
        assert time.perf_counter() - started < 3, name


# --- hand-computed values ----------------------------------------------------------------------

# Two sentences. 1: "the cat sat on the mat" vs "the cat sat on a mat": unigrams 5 of 6 match ("the"
# twice in the prediction, once in the reference), bigrams 3 of 5, trigrams 2 of 4, 4-grams 1 of 3.
# 2: "a dog runs" vs "a dog runs fast": 3 of 3, 2 of 2, 1 of 1, 0 of 0. Together 8/9, 5/7, 3/5, 1/3;
# prediction length 9 < reference length 10: brevity penalty exp(1 - 10/9).
BLEU_PREDS = ["the cat sat on the mat", "a dog runs"]
BLEU_REFS = ["the cat sat on a mat", "a dog runs fast"]
BLEU_BY_HAND = math.exp(1 - 10 / 9) * (8 / 9 * 5 / 7 * 3 / 5 * 1 / 3) ** (1 / 4)


def test_bleu_by_hand():
    out = load("bleu").compute(predictions=BLEU_PREDS, references=BLEU_REFS)
    assert out["bleu"] == pytest.approx(BLEU_BY_HAND, rel=1e-12)
    assert out["precisions"] == pytest.approx([8 / 9, 5 / 7, 3 / 5, 1 / 3])
    assert (out["translation_length"], out["reference_length"]) == (9, 10)
    # every order has a match, so sacreBLEU's smoothing changes nothing: the same number, times 100
    out = load("sacrebleu").compute(predictions=BLEU_PREDS, references=[[r] for r in BLEU_REFS])
    assert out["score"] == pytest.approx(100 * BLEU_BY_HAND, rel=1e-12)


def test_chrf_by_hand():
    # "abc" vs "abd", character n-grams: order 1 a b c / a b d: 2 of 3; order 2 ab bc / ab bd: 1 of 2;
    # order 3 abc / abd: 0 of 1; orders 4-6 have none. Precision = recall, averaged over the 3 orders
    # with n-grams: (2/3 + 1/2 + 0) / 3 = 7/18, and an F-beta of P = R is P.
    out = load("chrf").compute(predictions=["abc"], references=[["abd"]])
    assert out["score"] == pytest.approx(100 * 7 / 18, rel=1e-12)
    assert load("chrf").compute(predictions=["ab"], references=["ab"])["score"] == 100.0


def test_rouge_by_hand():
    # "the cat sat" vs "the cat ran away": 2 shared unigrams, P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7;
    # bigrams "the cat" "cat sat" vs "the cat" "cat ran" "ran away": P = 1/2, R = 1/3, F = 2/5;
    # longest common subsequence "the cat": as ROUGE-1, 4/7.
    out = load("rouge").compute(predictions=["the cat sat"], references=["the cat ran away"])
    assert out == pytest.approx({"rouge1": 4 / 7, "rouge2": 2 / 5, "rougeL": 4 / 7, "rougeLsum": 4 / 7})


def test_exact_match_by_hand():
    module = load("exact_match")
    preds, refs = ["Paris", "rome", "Berlin!", "the 3 cats"], ["paris", "Rome", "Berlin", "the cats"]
    assert module.compute(predictions=preds, references=refs)["exact_match"] == 0
    assert module.compute(predictions=preds, references=refs, ignore_case=True)["exact_match"] == 2 / 4
    both = module.compute(predictions=preds, references=refs, ignore_case=True, ignore_punctuation=True)
    assert both["exact_match"] == 3 / 4
    regex = module.compute(
        predictions=preds, references=refs, regexes_to_ignore=["\\d ", "!"], ignore_case=True
    )
    assert regex["exact_match"] == 4 / 4
    # a pattern that deletes both texts whole does not make them equal: only "b" == "b" counts
    emptied = module.compute(predictions=["a", "b"], references=["c", "b"], regexes_to_ignore="\\w+")
    assert emptied["exact_match"] == 1 / 2


def test_accuracy_by_hand():
    out = load("accuracy").compute(
        predictions=["yes", "no ", "no", "yes"], references=["yes", "no", "yes", "yes"]
    )
    assert out["accuracy"] == 3 / 4  # "no " counts: labels are stripped
    out = load("accuracy").compute(predictions=["yes", "no"], references=["yes", "yes"], normalize=False)
    assert out["accuracy"] == 1


# Confusion table (rows true, columns predicted):  a  b  c
#                                              a  2  1  0
#                                              b  0  1  1
#                                              c  0  0  1
# F1 = 2TP / (2TP + FP + FN): a 4/5, b 2/4, c 2/3. Supports 3, 2, 1.
F1_REFS = ["a", "a", "a", "b", "b", "c"]
F1_PREDS = ["a", "a", "b", "b", "c", "c"]


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        ("macro", (4 / 5 + 1 / 2 + 2 / 3) / 3),
        ("micro", 4 / 6),  # from summed counts: the accuracy
        ("weighted", (3 * 4 / 5 + 2 * 1 / 2 + 1 * 2 / 3) / 6),
        ("binary", 4 / 5),
    ],
)
def test_f1_by_hand(average, expected):
    out = load("f1").compute(predictions=F1_PREDS, references=F1_REFS, average=average, pos_label="a")
    assert out["f1"] == pytest.approx(expected, rel=1e-12)


def test_perplexity_by_hand():
    out = load("perplexity").compute(nll=[2.0, 3.0, 7.0], tokens=[1, 2, 4])
    assert out["perplexity"] == pytest.approx(math.exp(12 / 7), rel=1e-12)
    assert out["perplexities"] == pytest.approx([math.exp(2), math.exp(1.5), math.exp(1.75)])
    with pytest.raises(ValueError, match="at least one token"):
        load("perplexity").compute(nll=[0.0], tokens=[0])


# --- shipped modules equal the libraries they wrap ---------------------------------------------


def test_shipped_modules_equal_sacrebleu_and_rouge_score_on_a_random_corpus():
    preds, refs = corpus(150, seed=1)
    expected = sacrebleu.corpus_bleu(preds, [refs])
    out = load("sacrebleu").compute(predictions=preds, references=[[r] for r in refs])
    assert out["score"] == expected.score
    assert (out["counts"], out["totals"]) == (expected.counts, expected.totals)
    plain = sacrebleu.corpus_bleu(preds, [refs], smooth_method="none").score / 100
    assert load("bleu").compute(predictions=preds, references=refs)["bleu"] == pytest.approx(plain, rel=1e-12)
    assert (
        load("chrf").compute(predictions=preds, references=refs)["score"]
        == sacrebleu.corpus_chrf(preds, [refs]).score
    )
    chrf_pp = load("chrf").compute(predictions=preds, references=refs, word_order=2)["score"]
    assert chrf_pp == sacrebleu.corpus_chrf(preds, [refs], word_order=2).score

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
    direct = [scorer.score(r, p) for p, r in zip(preds, refs, strict=True)]
    per_example = load("rouge").compute(predictions=preds, references=refs, use_aggregator=False)
    for key, values in per_example.items():
        assert values == [d[key].fmeasure for d in direct]
    means = load("rouge").compute(predictions=preds, references=refs)
    assert means["rougeL"] == pytest.approx(np.mean([d["rougeL"].fmeasure for d in direct]), rel=1e-12)


def test_shipped_modules_return_the_statistics_sacrebleu_aggregates():
    """Guards the private `_extract_corpus_statistics` the bootstrap relies on."""
    preds, refs = corpus(80, seed=5)
    out = load("bleu").compute(predictions=preds, references=refs, max_order=3, return_statistics=True)
    score = sacrebleu.BLEU(max_ngram_order=3).corpus_score(preds, [refs])
    summed = np.asarray(out["statistics"]).sum(axis=0).tolist()
    assert summed == [score.sys_len, score.ref_len, *score.counts, *score.totals]
    assert len(out["statistics"]) == 80
    out = load("chrf").compute(predictions=preds, references=refs, return_statistics=True)
    assert np.asarray(out["statistics"]).shape == (80, 3 * 6)
    matches = load("exact_match").compute(predictions=["a", "b"], references=["a", "c"], return_matches=True)
    assert matches["matches"] == [1.0, 0.0]


@pytest.mark.parametrize("name", ["bleu", "sacrebleu", "chrf", "rouge", "exact_match"])
def test_shipped_equals_hub_module_when_one_is_cached(name):
    script = modules.hub_cached_script(name)
    if script is None:
        pytest.skip(f"the Hub module evaluate-metric/{name} is not in the local evaluate cache (offline)")
    hub, source = modules._load_hub(name), f"hub:{name}"
    assert hub is not None, source
    preds, refs = corpus(60, seed=2)
    kwargs = {"use_aggregator": False} if name == "rouge" else {}
    listed = [[r] for r in refs] if name in {"bleu", "sacrebleu", "chrf"} else refs
    expected = hub.compute(predictions=preds, references=listed, **kwargs)
    got = load(name).compute(predictions=preds, references=listed, **kwargs)
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-12)


# --- score_all ---------------------------------------------------------------------------------


def test_score_all_every_metric():
    preds, refs = corpus(80, seed=3)
    nll = [float(len(r)) / 3 + 1 for r in refs]
    tokens = [max(1, len(r.split())) for r in refs]
    metrics = [{"name": n, "args": {}} for n in ALL]
    found, per_example = score_all(
        metrics, preds, refs, root=Path("."), seed=1, bootstrap=BOOTSTRAP, nll=nll, tokens=tokens
    )
    by_key = {s.key: s for s in found}
    assert sorted(by_key) == sorted(
        [
            "bleu",
            "sacrebleu",
            "chrf",
            "rouge1",
            "rouge2",
            "rougeL",
            "rougeLsum",
            "exact_match",
            "accuracy",
            "f1",
            "perplexity",
        ]
    )
    for score in found:
        assert score.source == f"llmops:{score.metric}"
        assert score.n == 80
        assert score.ci_low <= score.value <= score.ci_high, score
        assert score.higher_is_better == (score.metric != "perplexity")
    # corpus values are exactly the libraries'
    assert by_key["sacrebleu"].value == sacrebleu.corpus_bleu(preds, [refs]).score
    assert by_key["chrf"].value == sacrebleu.corpus_chrf(preds, [refs]).score
    assert by_key["perplexity"].value == pytest.approx(math.exp(sum(nll) / sum(tokens)), rel=1e-12)
    # per-example columns, for the predictions file
    assert set(per_example) == set(by_key) - {"f1"}
    assert all(len(v) == 80 for v in per_example.values())
    for key in ["exact_match", "accuracy", "rougeL"]:
        assert np.mean(per_example[key]) == pytest.approx(by_key[key].value, rel=1e-12)
    for pred, ref, value in zip(preds, refs, per_example["chrf"], strict=True):
        assert value == pytest.approx(sacrebleu.sentence_chrf(pred, [ref]).score, rel=1e-12)
    for pred, ref, value in zip(preds, refs, per_example["sacrebleu"], strict=True):
        assert value == pytest.approx(sacrebleu.sentence_bleu(pred, [ref]).score, rel=1e-12)


def test_score_all_arguments_reach_the_modules():
    preds, refs = ["The Cat.", "a dog", "x y z"], ["the cat", "A DOG", "x y"]
    found = scores(
        [
            {"name": "exact_match", "args": {"ignore_case": True, "ignore_punctuation": True}},
            {"name": "rouge", "args": {"rouge_types": "rouge1, rougeL"}},
            {"name": "f1", "args": {"average": "micro"}},
        ],
        preds,
        refs,
    )
    assert found["exact_match"].value == 2 / 3
    assert set(found) == {"exact_match", "rouge1", "rougeL", "f1"}
    assert found["f1"].value == 0  # labels are compared as given (stripped): none equal


def test_bootstrap_settings():
    preds, refs = corpus(40, seed=4)
    metrics = [{"name": "chrf"}, {"name": "exact_match"}]
    no_ci = scores(metrics, preds, refs, bootstrap={"samples": 0})
    assert all(s.ci_low is None and s.ci_high is None for s in no_ci.values())
    first = scores(metrics, preds, refs, seed=7)
    assert first == scores(metrics, preds, refs, seed=7)
    assert first["chrf"] != scores(metrics, preds, refs, seed=8)["chrf"]
    wide = scores(metrics, preds, refs, bootstrap={"samples": 400, "confidence": 0.99})["chrf"]
    narrow = scores(metrics, preds, refs, bootstrap={"samples": 400, "confidence": 0.5})["chrf"]
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low


# --- where the module comes from ---------------------------------------------------------------


def test_prefer_hub_offline_without_cache_uses_shipped_without_network(monkeypatch):
    monkeypatch.setattr(modules, "_LOADED", {})
    monkeypatch.setattr(modules, "hub_cached_script", lambda name: None)
    started = time.perf_counter()
    found = scores([{"name": "exact_match"}, {"name": "chrf"}], ["a"], ["a"], prefer_hub=True)
    assert time.perf_counter() - started < 2
    assert {s.source for s in found.values()} == {"llmops:exact_match", "llmops:chrf"}


def test_prefer_hub_online_setting_but_no_network_falls_back_quickly(monkeypatch):
    for variable in modules.OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(modules, "_LOADED", {})
    monkeypatch.setattr(modules, "hub_cached_script", lambda name: None)

    def unreachable(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.perf_counter()
    found = scores([{"name": "exact_match"}], ["a"], ["a"], prefer_hub=True)
    assert time.perf_counter() - started < 3
    assert found["exact_match"].source == "llmops:exact_match"


def test_prefer_hub_uses_a_cached_hub_module(monkeypatch, tmp_path):
    # A stand-in for a cached Hub download: the same code, where evaluate keeps Hub modules.
    cached = tmp_path / "evaluate-metric--exact_match" / ("f" * 64) / "exact_match.py"
    cached.parent.mkdir(parents=True)
    shutil.copy(modules.MODULES_DIR / "exact_match" / "exact_match.py", cached)
    monkeypatch.setattr(modules, "_LOADED", {})
    monkeypatch.setattr(modules, "hub_cached_script", lambda name: cached if name == "exact_match" else None)
    found = scores([{"name": "exact_match"}, {"name": "accuracy"}], ["a", "b"], ["a", "c"], prefer_hub=True)
    assert found["exact_match"].source == "hub:exact_match"
    assert found["exact_match"].value == 0.5
    assert found["accuracy"].source == "llmops:accuracy"
    without = scores([{"name": "exact_match"}], ["a", "b"], ["a", "c"])
    assert without["exact_match"].source == "llmops:exact_match"


def test_hub_cached_script_finds_the_newest_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path)
    assert modules.hub_cached_script("rouge") is None
    folder = tmp_path / "evaluate_modules" / "metrics" / "evaluate-metric--rouge"
    old, new = folder / ("a" * 64) / "rouge.py", folder / ("b" * 64) / "rouge.py"
    for i, script in enumerate([old, new]):
        script.parent.mkdir(parents=True)
        script.write_text("")
        stamp = time.time() - 100 + i * 50
        import os

        os.utime(script, (stamp, stamp))
    (folder / "not-a-hash").mkdir()
    assert modules.hub_cached_script("rouge") == new


def test_hub_offline_reads_the_environment(monkeypatch):
    for variable in modules.OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert not modules.hub_offline()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert modules.hub_offline()


# --- custom metrics ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    package = tmp_path / "evalpkg_custom"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "scores.py").write_text(
        textwrap.dedent(
            """
            def length_ratio(predictions, references, scale=1.0):
                return scale * sum(map(len, predictions)) / sum(map(len, references))

            def several(predictions, references):
                return {"chars": float(sum(map(len, predictions))), "words": 2}

            def per_example(predictions, references):
                return [float(p == r) for p, r in zip(predictions, references)]

            def per_example_dict(predictions, references):
                return {"same": [float(p == r) for p, r in zip(predictions, references)], "total": 1.5}

            def wrong_length(predictions, references):
                return [1.0]

            def text(predictions, references):
                return "high"

            def broken(predictions, references):
                raise RuntimeError("no GPU here")

            not_callable = 3
            """
        )
    )
    return tmp_path


def custom(target: str, **args) -> dict:
    return {"name": "custom", "callable": f"evalpkg_custom.scores:{target}", "args": args}


def test_custom_metric_shapes(project):
    preds, refs = ["ab", "c", "d"], ["ab", "cd", "d"]
    found, per_example = score_all(
        [
            custom("length_ratio", scale=2.0),
            custom("several"),
            custom("per_example_dict", higher_is_better=False),
        ],
        preds,
        refs,
        root=project,
        seed=0,
        bootstrap=BOOTSTRAP,
    )
    by_key = {s.key: s for s in found}
    assert by_key["length_ratio"].value == 2.0 * 4 / 5
    assert by_key["length_ratio"].ci_low is None
    assert by_key["length_ratio"].source == "custom:evalpkg_custom.scores:length_ratio"
    assert (by_key["chars"].value, by_key["words"].value) == (4.0, 2.0)
    assert by_key["same"].value == 2 / 3
    assert by_key["same"].ci_low <= 2 / 3 <= by_key["same"].ci_high
    assert not by_key["same"].higher_is_better
    assert per_example == {"same": [1.0, 0.0, 1.0]}
    found, per_example = score_all(
        [custom("per_example")], preds, refs, root=project, seed=0, bootstrap=BOOTSTRAP
    )
    assert found[0].key == "per_example" and per_example == {"per_example": [1.0, 0.0, 1.0]}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("wrong_length", r"evalpkg_custom\.scores:wrong_length returned a sequence of 1.*a list of 3"),
        ("text", r"evalpkg_custom\.scores:text returned str 'high'"),
        ("broken", r"evalpkg_custom\.scores:broken raised RuntimeError: no GPU here"),
        ("missing", r"evalpkg_custom\.scores:missing: evalpkg_custom\.scores has no missing"),
        ("not_callable", r"has a non-callable not_callable"),
    ],
)
def test_custom_metric_errors_name_the_callable(project, target, message):
    with pytest.raises(MetricError, match=message):
        score_all(
            [custom(target)], ["a", "b", "c"], ["a", "b", "c"], root=project, seed=0, bootstrap=BOOTSTRAP
        )


def test_custom_metric_that_cannot_be_imported(tmp_path):
    metric = {"name": "custom", "callable": "nowhere_pkg.mod:fn", "args": {}}
    with pytest.raises(
        MetricError, match=r"nowhere_pkg\.mod:fn: cannot import nowhere_pkg\.mod from .*ModuleNotFound"
    ):
        score_all([metric], ["a"], ["a"], root=tmp_path, seed=0, bootstrap=BOOTSTRAP)
    assert str(tmp_path) not in __import__("sys").path


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metrics", "kwargs", "message"),
    [
        (
            [{"name": "bleu", "args": {"n_gram": 3}}],
            {},
            r"metric bleu has no argument n_gram \(it takes: lowercase",
        ),
        ([{"name": "perplexity"}], {}, "needs the runner's per-example nll and token counts"),
        ([{"name": "perplexity"}], {"nll": [1.0], "tokens": [1, 2]}, "1 nll values and 2 token counts for 2"),
        ([{"name": "rouge"}, {"name": "rouge"}], {}, "two metrics report the figure 'rouge1'"),
        (
            [{"name": "f1", "args": {"average": "samples"}}],
            {},
            "metric f1 failed: ValueError: average must be one of",
        ),
    ],
)
def test_errors_are_clear(metrics, kwargs, message):
    kwargs = {"root": Path("."), "seed": 0, "bootstrap": BOOTSTRAP, **kwargs}
    with pytest.raises(MetricError, match=message) as caught:
        score_all(metrics, ["a b", "c"], ["a b", "d"], **kwargs)
    assert isinstance(caught.value, LlmopsError)


def test_invalid_settings_are_refused_by_the_spec_models():
    with pytest.raises(ValidationError, match="name"):
        Metric.model_validate({"name": "meteor"})
    with pytest.raises(ValidationError, match="samples"):
        Bootstrap.model_validate({"samples": -1})


def test_inputs_must_pair_up():
    with pytest.raises(MetricError, match="2 predictions but 1 references"):
        score_all([{"name": "chrf"}], ["a", "b"], ["a"], root=Path("."), seed=0, bootstrap=BOOTSTRAP)
    with pytest.raises(MetricError, match="nothing to score"):
        score_all([{"name": "chrf"}], [], [], root=Path("."), seed=0, bootstrap=BOOTSTRAP)
