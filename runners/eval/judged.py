"""Judged metrics: a judge model grades the answers (`judge_pairwise`, `judge_rubric`).

Reference metrics reward word overlap: an answer "The capital of of of of..." passes a ROUGE gate.
A judge reads the answers the way a person would, so its verdicts catch what overlap misses.

`judge_pairwise` shows the judge the question and two answers, the model's and a baseline's, and
asks which is better. Judges prefer whichever answer comes first (or second) more often than
chance, so every comparison is asked twice with the answers swapped: a verdict counts only when
both orders agree, anything else is a tie. The figure is the model's win rate with ties as 0.5;
the wins, losses, ties, the position-consistency rate (the share of comparisons whose two orders
agreed, among those whose replies both parsed) and the unparseable replies are reported beside
it. A judge that always answers "A" thus scores 0.5 with consistency 0: bias becomes ties.

`judge_rubric` asks for a score 1..scale (`args.scale`, default 5) per answer and reports the
mean scaled to 0..1; every model and baseline is scored, so regression rules compare them.

Keys in the metrics file (per model, like every figure, with `_ci_low`/`_ci_high`):
`judge_pairwise` (win rate over every compared baseline), `judge_pairwise_wins`, `_losses`,
`_ties`, `_consistency`, `_unparseable`; with several baselines compared, the same again per
baseline as `judge_pairwise/<baseline label>` (e.g. `judge_pairwise/base_of:qa`, its
`..._wins` etc.). `judge_rubric` and `judge_rubric_unparseable` for models and baselines.

With `judge.verdict_by: likelihood` a local judge writes nothing: each option is scored as a
continuation of its prompt (runners/eval/choice.py), a rubric score is the likeliest, and a
pairwise verdict is the sign of the judge's preference for the model's answer averaged over both
orders, which cancels a constant position bias exactly instead of turning it into ties.

The judge is a local model run through the eval's own generation engines, or an
OpenAI-compatible endpoint whose URL (and key) come from environment variables named in the
spec. Its prompt is a Prompt spec rendered in the Jinja2 sandbox. A reply that gives no verdict
is counted (a pairwise comparison with one becomes a tie, an unscored rubric answer scores 0);
above `judge.max_unparseable` of all replies the stage fails: a gate must not read a guess.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from llmops.compiler.kinds.evalsuite import JUDGED_METRICS
from llmops.errors import StageFailed
from llmops.runners.eval import bootstrap as bs
from llmops.runners.eval.scoring import Score

if TYPE_CHECKING:
    from llmops.compiler.kinds.evalsuite import EvalSuite, Judge
    from llmops.prompting.render import PromptTemplate, Rendered

PAIRWISE, RUBRIC = "judge_pairwise", "judge_rubric"
TEXT_CHARS = 8000  # of each question, answer and reference shown to the judge: untrusted text
_VERDICT = re.compile(r"(?<![A-Za-z])(A|B)(?![A-Za-z])|\b(tie|draw|equal|equally|same)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])(\d{1,3})(?![\d])")


def parse_verdict(text: str) -> str | None:
    """The verdict "A", "B" or "tie" from the first verdict token of a reply ("[[B]]", "Answer A is better",
    "Tie."), None without one. A lone lowercase "a" is an article, not a verdict."""
    for found in _VERDICT.finditer(text or ""):
        if found.group(1):
            if found.group(1) in ("A", "B"):
                return found.group(1)
            continue
        return "tie"
    return None


def parse_score(text: str, scale: int) -> int | None:
    """The first whole number of the reply when it is 1..scale, else None."""
    found = _NUMBER.search(text or "")
    if found is None:
        return None
    value = int(found.group(1))
    return value if 1 <= value <= scale else None


class Asker(Protocol):
    """Asks the judge: one reply per rendered judge prompt."""

    source: str

    def ask(self, rendered: list[Rendered], options: list[str]) -> list[str]: ...


class EndpointJudge:
    """An OpenAI-compatible endpoint; the rendered messages (system, few-shot, user) are sent."""

    def __init__(self, judge: Judge) -> None:
        base = os.environ.get(str(judge.url_env), "").strip()
        if not base:
            raise StageFailed(
                f"judge: the environment variable {judge.url_env} (judge.url_env) is not set; "
                "set it to the judge's OpenAI-compatible base URL, e.g. http://localhost:8000/v1"
            )
        self.endpoint = base.rstrip("/") + "/chat/completions"
        self.key = os.environ.get(judge.key_env, "") if judge.key_env else ""
        self.judge = judge
        self.source = f"judge:{judge.model_name}"

    def ask(self, rendered: list[Rendered], options: list[str]) -> list[str]:
        from llmops.runners.eval.judge import chat_completion

        return [
            chat_completion(
                self.endpoint,
                self.key,
                str(self.judge.model_name),
                r.messages,
                self.judge.timeout_s,
                max_tokens=self.judge.max_new_tokens,
                temperature=self.judge.temperature,
                what="judged metrics",
            )
            for r in rendered
        ]


class LocalJudge:
    """A local model, generating with the suite's engine (Transformers or vLLM)."""

    def __init__(self, where: Any, judge: Judge, spec: EvalSuite, root: Path, seed: int, engine: str) -> None:
        from llmops.hf.loading import load_tokenizer, resolve_location

        self.where, self.root, self.seed, self.engine = where, root, seed, engine
        self.name, self.revision = resolve_location(where, root)
        self.tokenizer = load_tokenizer(self.name, self.revision)
        self.generation = spec.generation.model_copy(
            update={
                "max_new_tokens": judge.max_new_tokens,
                "temperature": judge.temperature,
                "top_p": 1.0,
                "stop": [],
            }
        )
        self.model: Any = None
        self.verdict_by = judge.verdict_by
        self.source = f"judge:{where.label}"

    def ask(self, rendered: list[Rendered], options: list[str]) -> list[str]:
        from llmops.hf.generate import generate_transformers
        from llmops.hf.loading import load_causal_lm, read_card
        from llmops.runners.eval.generate import generate_vllm

        if self.verdict_by == "likelihood":
            return [max(options, key=found.__getitem__) for found in self.option_scores(rendered, options)]
        prompts = [r.prompt_for(self.tokenizer) for r in rendered]
        if self.engine == "vllm":
            card = read_card(self.name) if self.revision is None else None
            if card and card.get("base_model", {}).get("path"):  # the card's paths are project-relative
                base = {**card["base_model"], "path": str(self.root / card["base_model"]["path"])}
                card = {**card, "base_model": base}
            generated = generate_vllm(self.name, self.revision, card, prompts, self.generation, self.seed)
        else:
            self.model = self.model or load_causal_lm(self.name, self.revision, self.root)
            generated = generate_transformers(self.model, self.tokenizer, prompts, self.generation, self.seed)
        return list(generated.predictions)

    def option_scores(self, rendered: list[Rendered], options: list[str]) -> list[dict[str, float]]:
        """Each option's log-probability as the continuation of each judge prompt, scored with
        Transformers whichever engine generates (a handful of options: one forward pass each)."""
        from llmops.hf.loading import load_causal_lm
        from llmops.runners.eval.choice import option_logprobs

        self.model = self.model or load_causal_lm(self.name, self.revision, self.root)
        prompts = [r.prompt_for(self.tokenizer) for r in rendered]
        return option_logprobs(self.model, self.tokenizer, prompts, options)


def option_scores(
    asker: Asker, rendered: list[Rendered], options: list[str]
) -> list[dict[str, float]] | None:
    """Each option's log-probability per prompt, from a local judge that verdicts by likelihood;
    None for a judge that writes its verdict."""
    if not isinstance(asker, LocalJudge) or asker.verdict_by != "likelihood":
        return None
    return asker.option_scores(rendered, options)


@dataclass
class Tally:
    """Replies asked and replies without a verdict, over the whole suite."""

    asked: int = 0
    unparseable: int = 0
    example: str = ""

    def missed(self, reply: str) -> None:
        self.unparseable += 1
        self.example = self.example or reply[:120]


def _clip(text: Any) -> str:
    return str(text)[:TEXT_CHARS]


def _variables(template: PromptTemplate, values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k in template.variables}


def compare(
    asker: Asker,
    template: PromptTemplate,
    questions: list[str],
    references: list[str],
    mine: list[str],
    theirs: list[str],
    tally: Tally,
) -> dict[str, Any]:
    """One model against one baseline, each comparison asked in both orders.

    Returns the per-example column (1 win, 0.5 tie, 0 loss) and the counts."""
    rendered = []
    for order in ((mine, theirs), (theirs, mine)):
        for i, question in enumerate(questions):
            values = {
                "question": _clip(question),
                "answer_a": _clip(order[0][i]),
                "answer_b": _clip(order[1][i]),
                "reference": _clip(references[i]),
            }
            rendered.append(
                template.render(_variables(template, values), during=f"judge_pairwise row {i + 1}")
            )
    options = ["A", "B", "tie"]
    scores = option_scores(asker, rendered, options)
    if scores is not None:
        return _compare_by_likelihood(scores, len(questions), tally)
    replies = asker.ask(rendered, options)
    n = len(questions)
    column: list[float] = []
    consistent, parsed, missing = 0, 0, 0
    for i in range(n):
        first, second = replies[i], replies[n + i]
        verdicts = []
        for reply, mine_is in ((first, "A"), (second, "B")):
            tally.asked += 1
            verdict = parse_verdict(reply)
            if verdict is None:
                tally.missed(reply)
            verdicts.append(None if verdict is None else "tie" if verdict == "tie" else verdict == mine_is)
        missing += verdicts.count(None)
        if None not in verdicts:
            parsed += 1
            consistent += verdicts[0] == verdicts[1]
        if verdicts[0] is True and verdicts[1] is True:
            column.append(1.0)
        elif verdicts[0] is False and verdicts[1] is False:
            column.append(0.0)
        else:
            column.append(0.5)
    return _found(column, consistent, parsed, missing)


def _compare_by_likelihood(scores: list[dict[str, float]], n: int, tally: Tally) -> dict[str, Any]:
    """Verdicts from option log-probabilities: the model wins when the judge prefers its answer
    once the position bias is cancelled (choice.swapped_preference), loses when it prefers the
    baseline's, and ties only on equal preference. Consistency is still the share of comparisons
    whose most likely options agreed across the two orders, so a position-biased judge shows."""
    from llmops.runners.eval.choice import swapped_preference

    column: list[float] = []
    consistent = 0
    for i in range(n):
        first, second = scores[i], scores[n + i]
        tally.asked += 2
        top = [max(first, key=first.__getitem__), max(second, key=second.__getitem__)]
        consistent += (top[0], top[1]) in (("A", "B"), ("B", "A"), ("tie", "tie"))
        preference = swapped_preference(first, second)
        column.append(1.0 if preference > 1e-6 else 0.0 if preference < -1e-6 else 0.5)
    return _found(column, consistent, n, 0)


def _found(column: list[float], consistent: int, parsed: int, unparseable: int) -> dict[str, Any]:
    """One model-against-baseline comparison: the per-example column and its counts."""
    return {
        "column": column,
        "wins": column.count(1.0),
        "losses": column.count(0.0),
        "ties": column.count(0.5),
        "consistent": consistent,
        "parsed": parsed,
        "unparseable": unparseable,
    }


def grade(
    asker: Asker,
    template: PromptTemplate,
    questions: list[str],
    references: list[str],
    answers: list[str],
    scale: int,
    tally: Tally,
) -> tuple[list[float], int]:
    """Rubric scores scaled to 0..1 (unparseable: 0), and how many replies had no score."""
    rendered = [
        template.render(
            _variables(template, {"question": _clip(q), "answer": _clip(a), "reference": _clip(r)}),
            during=f"judge_rubric row {i + 1}",
        )
        for i, (q, a, r) in enumerate(zip(questions, answers, references, strict=True))
    ]
    column, missed = [], 0
    for reply in asker.ask(rendered, [str(i) for i in range(1, scale + 1)]):
        tally.asked += 1
        score = parse_score(reply, scale)
        if score is None:
            tally.missed(reply)
            missed += 1
        column.append(0.0 if score is None else (score - 1) / (scale - 1))
    return column, missed


def _share(found: list[dict[str, Any]]) -> float:
    """Position consistency: comparisons whose two orders agreed, among those that both parsed."""
    parsed = sum(f["parsed"] for f in found)
    return sum(f["consistent"] for f in found) / parsed if parsed else 0.0


def make_asker(spec: EvalSuite, judge_model: Any, root: Path, seed: int, engine: str) -> Asker:
    judge = spec.judge
    if judge is None:
        raise StageFailed("judged metrics need the suite's `judge`")
    if judge.url_env:
        return EndpointJudge(judge)
    if judge_model is None:
        raise StageFailed("the suite's judge names a local model, but the stage config carries none")
    return LocalJudge(judge_model, judge, spec, root, seed, engine)


def score(
    spec: EvalSuite,
    asker: Asker,
    templates: dict[str, PromptTemplate],
    questions: list[str],
    models: list[dict[str, Any]],
    baselines: list[dict[str, Any]],
    seed: int,
) -> Tally:
    """Adds the judged figures to each result's `scores` and `per_example` (run.py's results);
    `templates` holds the judge prompt of each judged metric."""
    judged = [m for m in spec.metrics or [] if m.name in JUDGED_METRICS]
    tally = Tally()
    if not judged:
        return tally
    n = len(questions)
    resamples = bs.Resamples(n, spec.bootstrap.samples, seed)
    confidence = spec.bootstrap.confidence

    def figure(key: str, column: list[float]) -> Score:
        values = np.asarray(column, dtype=np.float64)
        low, high = bs.interval(values, bs.mean_statistic(n), resamples, confidence)
        return Score(metric, key, math.fsum(column) / n, low, high, n, True, asker.source)

    def count(key: str, value: float, higher: bool) -> Score:
        return Score(metric, key, float(value), None, None, n, higher, asker.source)

    for spec_metric in judged:
        metric = spec_metric.name
        if metric not in templates:
            raise StageFailed(f"metric {metric}: the stage config carries no judge prompt for it")
        template = templates[metric]
        if metric == RUBRIC:
            scale = int(spec_metric.args.get("scale", 5))
            for result in models + baselines:
                refs = result["references"]
                column, missed = grade(asker, template, questions, refs, result["predictions"], scale, tally)
                result["scores"] += [figure(RUBRIC, column), count(f"{RUBRIC}_unparseable", missed, False)]
                result["per_example"][RUBRIC] = column
            continue
        wanted = spec_metric.args.get("baseline")
        against = [b for b in baselines if wanted is None or b["label"] == wanted]
        for result in models:
            per_base = {
                b["label"]: compare(
                    asker,
                    template,
                    questions,
                    result["references"],
                    result["predictions"],
                    b["predictions"],
                    tally,
                )
                for b in against
            }
            keys = [(PAIRWISE, list(per_base.values()))]
            if len(per_base) > 1:
                keys += [(f"{PAIRWISE}/{label}", [found]) for label, found in per_base.items()]
            for key, found in keys:
                column = [sum(f["column"][i] for f in found) / len(found) for i in range(n)]
                result["scores"] += [
                    figure(key, column),
                    count(f"{key}_wins", sum(f["wins"] for f in found), True),
                    count(f"{key}_losses", sum(f["losses"] for f in found), False),
                    count(f"{key}_ties", sum(f["ties"] for f in found), False),
                    count(f"{key}_consistency", _share(found), True),
                    count(f"{key}_unparseable", sum(f["unparseable"] for f in found), False),
                ]
                result["per_example"][key] = column
    share = tally.unparseable / tally.asked if tally.asked else 0.0
    limit = spec.judge.max_unparseable if spec.judge else 0.0
    if share > limit:
        raise StageFailed(
            f"judged metrics: {tally.unparseable} of {tally.asked} judge replies gave no verdict "
            f"({share:.0%}, more than judge.max_unparseable {limit:.0%}); e.g. {tally.example!r}. "
            "Make the judge prompt ask for A, B or tie (or a score) only, or use a stronger judge"
        )
    return tally
