"""EvalSuite: models and baselines scored on a held-out split with `evaluate` metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import (
    ModelRef,
    Name,
    Reference,
    RelPath,
    Resources,
    SpecBase,
    SpecModel,
)

MetricName = Literal[
    "bleu",
    "sacrebleu",
    "chrf",
    "rouge",
    "exact_match",
    "accuracy",
    "f1",
    "perplexity",
    "custom",
    # retrieval-augmented prompts only: scored on the passages the prompt's retrieval returned
    "recall",
    "hit_rate",
    "mrr",
    "faithfulness",
    "context_relevance",
    # judged by a model (the suite's `judge`): runners/eval/judged.py
    "judge_pairwise",
    "judge_rubric",
]
# metrics a judge model scores: a suite using one needs a `judge`
JUDGED_METRICS = ("judge_pairwise", "judge_rubric")
# the judge prompt's variables each judged metric fills (`reference` optional for both)
JUDGE_VARIABLES: dict[str, tuple[str, ...]] = {
    "judge_pairwise": ("question", "answer_a", "answer_b"),
    "judge_rubric": ("question", "answer"),
}
JUDGE_ARGUMENTS: dict[str, frozenset[str]] = {
    "judge_pairwise": frozenset({"baseline"}),
    "judge_rubric": frozenset({"scale"}),
}
# metrics that read the retrieved passages: a suite whose prompt has no `retrieval` cannot use them
RAG_METRICS = ("recall", "hit_rate", "mrr", "faithfulness", "context_relevance")
# the arguments each RAG metric takes (the eval runner reads this table too)
RAG_ARGUMENTS: dict[str, frozenset[str]] = {
    "recall": frozenset({"k", "gold_column", "gold", "min_overlap"}),
    "hit_rate": frozenset({"k", "gold_column", "gold", "min_overlap"}),
    "mrr": frozenset({"k", "gold_column", "gold", "min_overlap"}),
    "context_relevance": frozenset({"method", "k"}),
    "faithfulness": frozenset({"method", "k", "judge_url_env", "judge_model", "judge_key_env", "timeout_s"}),
}
RAG_METHODS = {"faithfulness": ("overlap", "judge"), "context_relevance": ("overlap", "embedding")}


def _check_rag_arguments(name: str, args: dict[str, object]) -> None:
    """A RAG metric's arguments, checked where the spec is written rather than when it runs."""
    unknown = sorted(set(args) - RAG_ARGUMENTS[name])
    if unknown:
        takes = ", ".join(sorted(RAG_ARGUMENTS[name]))
        raise ValueError(f"metric {name} takes no argument {', '.join(unknown)}; it takes {takes}")
    if "k" in args and (isinstance(args["k"], bool) or not isinstance(args["k"], int) or args["k"] < 1):
        raise ValueError(f"metric {name}: k is a whole number of passages, 1 or more")
    if name in ("recall", "hit_rate", "mrr"):
        if ("gold_column" in args) == ("gold" in args):
            raise ValueError(
                f"metric {name} needs exactly one of gold_column (a column of relevant passage or "
                "document ids) or gold: answer (a passage is relevant when it holds the reference answer)"
            )
        if "gold" in args and args["gold"] != "answer":
            raise ValueError(f"metric {name}: gold takes only the value answer")
    if name in RAG_METHODS and "method" in args and args["method"] not in RAG_METHODS[name]:
        raise ValueError(f"metric {name}: method is one of {', '.join(RAG_METHODS[name])}")
    if name == "faithfulness" and args.get("method") == "judge":
        missing = [key for key in ("judge_url_env", "judge_model") if key not in args]
        if missing:
            raise ValueError(
                f"faithfulness with method: judge needs {' and '.join(missing)} (the environment "
                "variable holding the judge's OpenAI-compatible base URL, and its model name)"
            )


def _check_judge_arguments(name: str, args: dict[str, object]) -> None:
    """A judged metric's arguments, checked where the spec is written."""
    unknown = sorted(set(args) - JUDGE_ARGUMENTS[name])
    if unknown:
        takes = ", ".join(sorted(JUDGE_ARGUMENTS[name]))
        raise ValueError(f"metric {name} takes no argument {', '.join(unknown)}; it takes {takes}")
    scale = args.get("scale", 5)
    if isinstance(scale, bool) or not isinstance(scale, int) or not 2 <= scale <= 100:
        raise ValueError(f"metric {name}: scale is the top score of the rubric, a whole number 2..100")
    if "baseline" in args and not isinstance(args["baseline"], str):
        raise ValueError(f"metric {name}: baseline is a baseline's label, e.g. base_of:my-tune")


Callable_ = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="`module.path:function`: a function in this repository.",
    ),
]


class Metric(SpecModel):
    name: MetricName = Field(
        description="A metric that ships with llmops, or custom (with `callable`); recall, hit_rate, mrr, "
        "faithfulness and context_relevance score the passages of a prompt with `retrieval`; "
        "judge_pairwise and judge_rubric are graded by the suite's `judge`."
    )
    callable: Callable_ | None = Field(default=None, description="module.path:function for custom.")
    args: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Keyword arguments of the metric (for example ignore_case for exact_match).",
    )

    @model_validator(mode="after")
    def _custom_has_callable(self) -> Metric:
        if (self.name == "custom") != bool(self.callable):
            raise ValueError("a custom metric names a callable, and only a custom one does")
        if self.name in RAG_ARGUMENTS:
            _check_rag_arguments(self.name, self.args)
        if self.name in JUDGE_ARGUMENTS:
            _check_judge_arguments(self.name, self.args)
        return self


class Generation(SpecModel):
    max_new_tokens: int = Field(default=64, ge=1, le=32_768, description="Most tokens generated per answer.")
    temperature: float = Field(
        default=0.0, ge=0, le=5, description="Sampling temperature; 0 is greedy decoding."
    )
    top_p: float = Field(
        default=1.0, gt=0, le=1, description="Nucleus sampling probability, used when temperature is above 0."
    )
    stop: list[str] = Field(
        default_factory=list, description="A prediction is cut at the first of these texts."
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        description="Seed of the sampling and of the bootstrap; default: the project seed.",
    )
    batch_size: int = Field(default=8, ge=1, description="Prompts per batch.")
    engine: Literal["auto", "transformers", "vllm"] = Field(
        default="auto", description="auto: vLLM on a CUDA machine with the gpu extra, else Transformers."
    )


class Bootstrap(SpecModel):
    samples: int = Field(default=1000, ge=0, le=100_000, description="Resamples drawn; 0 gives no intervals.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Confidence level of the intervals.")


EnvVar = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$", description="An environment variable.")]


class Judge(SpecModel):
    """The model that grades answers for the judged metrics: a local model run through the eval's
    own generation engines, or an OpenAI-compatible endpoint whose URL and key come from the
    environment only (a spec in a pull request cannot point CI at an address of its choosing)."""

    prompt: Name = Field(
        description="The Prompt the judge reads (versioned like any prompt): variables question, "
        "answer_a, answer_b for judge_pairwise; question, answer for judge_rubric; reference optional."
    )
    rubric_prompt: Name | None = Field(
        default=None,
        description="The Prompt of judge_rubric when the suite also has judge_pairwise (default: `prompt`).",
    )
    model: ModelRef | None = Field(
        default=None, description="A local judge model (finetune:, base_of:, path:, hub:)."
    )
    url_env: EnvVar | None = Field(
        default=None, description="Environment variable holding the endpoint's base URL (…/v1)."
    )
    model_name: str | None = Field(
        default=None, max_length=200, description="The endpoint's model name (with url_env)."
    )
    key_env: EnvVar | None = Field(default=None, description="Environment variable holding the API key.")
    max_new_tokens: int = Field(default=16, ge=1, le=4096, description="Most tokens of one verdict.")
    temperature: float = Field(default=0.0, ge=0, le=2, description="0: the same verdict every run.")
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds one endpoint request may take."
    )
    verdict_by: Literal["generation", "likelihood"] = Field(
        default="generation",
        description="generation: the judge writes its verdict and it is parsed; likelihood (a local "
        "model only): the options (A, B, tie; or the scores) are scored as continuations of the judge "
        "prompt, as lm-evaluation-harness scores multiple choice: a rubric score is the likeliest, and "
        "a pairwise verdict is the judge's preference with its position bias cancelled across the two "
        "orders (mean of logP(model's answer) - logP(baseline's)). Nothing to parse; fits small judges.",
    )
    max_unparseable: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Largest share of verdicts without an A/B/tie or a score before the stage fails.",
    )

    @model_validator(mode="after")
    def _one_judge(self) -> Judge:
        if (self.model is None) == (self.url_env is None):
            raise ValueError("a judge is either a local `model` or an endpoint `url_env` (+ model_name)")
        if self.url_env and not self.model_name:
            raise ValueError("an endpoint judge names its model: model_name")
        if self.verdict_by == "likelihood" and self.model is None:
            raise ValueError(
                "verdict_by: likelihood scores the options with a local `model`; an endpoint only generates"
            )
        if self.model is not None and (self.model_name or self.key_env):
            raise ValueError("model_name and key_env go with url_env, not with a local model")
        return self


HarnessTask = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$",
        description="An lm-evaluation-harness task or group name (`lm-eval ls tasks`, or one of "
        "`include_path`).",
    ),
]


class Harness(SpecModel):
    """lm-evaluation-harness tasks run on every model and baseline (runners/eval/harness.py).

    Their figures land in the suite's metrics file as `<task>/<metric>` (a filter other than
    `none` adds `@<filter>`), with the harness's standard error as the interval, so gates and
    `llmops metrics diff` read them like any other figure."""

    tasks: list[HarnessTask] = Field(min_length=1, description="Task or group names, run in this order.")
    include_path: RelPath | None = Field(
        default=None,
        description="A folder of the project holding task YAMLs (and their data files, named relative "
        "to the project root); its tasks run offline and the stage reruns when it changes.",
    )
    num_fewshot: int | None = Field(
        default=None, ge=0, le=64, description="Few-shot examples per prompt; default: each task's own."
    )
    limit: int | None = Field(
        default=None, ge=1, description="At most this many documents per task (a smoke run); default: all."
    )
    batch_size: int = Field(default=8, ge=1, le=1024, description="Requests per model batch.")

    @model_validator(mode="after")
    def _tasks_once(self) -> Harness:
        twice = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if twice:
            raise ValueError(f"harness task {twice[0]} is listed twice")
        if self.include_path and any(c in self.include_path for c in "*?[]{}"):
            raise ValueError("harness.include_path is one folder of the project, not a pattern")
        return self


class EvalSuite(SpecBase):
    kind: Literal["EvalSuite"] = Field(description="Always `EvalSuite`.")
    models: list[ModelRef] = Field(min_length=1, description="The models evaluated.")
    baselines: list[ModelRef] = Field(
        default_factory=list,
        description="Models they are compared with: every model gets its deltas against each baseline.",
    )
    dataset: Name | None = Field(
        default=None, description="The Dataset whose split is evaluated; needed by `metrics`."
    )
    split: Literal["train", "validation", "test"] = Field(
        default="test", description="The split evaluated; train needs `allow_train_split`."
    )
    allow_train_split: bool = Field(default=False, description="Allow evaluating on the train split.")
    prompt: Name | None = Field(
        default=None,
        description="The Prompt that renders each record; its `completion` column is the reference. "
        "Needed by `metrics`.",
    )
    generation: Generation = Field(
        default_factory=Generation, description="How every model and baseline generates."
    )
    metrics: list[Metric] = Field(
        default_factory=list,
        description="The metrics that score the predictions; a suite has metrics, `harness` or both.",
    )
    bootstrap: Bootstrap = Field(
        default_factory=Bootstrap, description="Percentile bootstrap confidence intervals of every figure."
    )
    # absent from stage configs when unset, so suites without a judge rerun nothing
    judge: Judge | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The judge model of judge_pairwise and judge_rubric.",
    )
    # absent from stage configs when unset, so suites without harness tasks rerun nothing
    harness: Harness | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="lm-evaluation-harness tasks run on every model and baseline.",
    )
    resources: Resources = Field(default_factory=Resources, description="Where the eval stage runs.")

    @model_validator(mode="after")
    def _metrics_or_harness(self) -> EvalSuite:
        if not self.metrics and self.harness is None:
            raise ValueError(
                "an EvalSuite needs `metrics` (with dataset and prompt), `harness` tasks, or both"
            )
        if self.metrics:
            missing = [field for field in ("dataset", "prompt") if getattr(self, field) is None]
            if missing:
                raise ValueError(
                    f"metrics score a Dataset's split rendered by a Prompt; set {' and '.join(missing)}"
                )
        return self

    @model_validator(mode="after")
    def _no_training_split(self) -> EvalSuite:
        if self.split == "train" and not self.allow_train_split:
            raise ValueError("evaluating on the train split is refused; set allow_train_split: true")
        return self

    @model_validator(mode="after")
    def _judged_metrics_fit(self) -> EvalSuite:
        judged = [m for m in self.metrics or [] if m.name in JUDGED_METRICS]
        if judged and self.judge is None:
            raise ValueError(f"metric {judged[0].name} needs a `judge` (a Prompt and a model or endpoint)")
        for name in JUDGED_METRICS:
            if sum(m.name == name for m in judged) > 1:
                raise ValueError(f"metric {name} is listed twice; one per suite")
        labels = [b.label for b in self.baselines]
        for metric in judged:
            if metric.name != "judge_pairwise":
                continue
            if not labels:
                raise ValueError("judge_pairwise compares each model with a baseline; the suite has none")
            wanted = metric.args.get("baseline")
            if wanted is not None and wanted not in labels:
                raise ValueError(f"judge_pairwise: baseline {wanted!r} is not one of {', '.join(labels)}")
        return self

    def references(self) -> Iterator[Reference]:
        for field in ("models", "baselines"):
            for i, ref in enumerate(getattr(self, field)):
                yield from ref.references((field, i))
        if self.dataset is not None:
            yield ("dataset",), "Dataset", self.dataset
        if self.prompt is not None:
            yield ("prompt",), "Prompt", self.prompt
        if self.judge is not None:
            yield ("judge", "prompt"), "Prompt", self.judge.prompt
            if self.judge.rubric_prompt:
                yield ("judge", "rubric_prompt"), "Prompt", self.judge.rubric_prompt
            if self.judge.model is not None:
                yield from self.judge.model.references(("judge", "model"))
