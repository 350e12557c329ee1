"""EvalSuite: models and baselines scored on a held-out split with `evaluate` metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import ModelRef, Name, Reference, Resources, SpecBase, SpecModel

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
]
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
        "faithfulness and context_relevance score the passages of a prompt with `retrieval`."
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


class EvalSuite(SpecBase):
    kind: Literal["EvalSuite"] = Field(description="Always `EvalSuite`.")
    models: list[ModelRef] = Field(min_length=1, description="The models evaluated.")
    baselines: list[ModelRef] = Field(
        default_factory=list,
        description="Models they are compared with: every model gets its deltas against each baseline.",
    )
    dataset: Name = Field(description="The Dataset whose split is evaluated.")
    split: Literal["train", "validation", "test"] = Field(
        default="test", description="The split evaluated; train needs `allow_train_split`."
    )
    allow_train_split: bool = Field(default=False, description="Allow evaluating on the train split.")
    prompt: Name = Field(
        description="The Prompt that renders each record; its `completion` column is the reference."
    )
    generation: Generation = Field(
        default_factory=Generation, description="How every model and baseline generates."
    )
    metrics: list[Metric] = Field(min_length=1, description="The metrics that score the predictions.")
    bootstrap: Bootstrap = Field(
        default_factory=Bootstrap, description="Percentile bootstrap confidence intervals of every figure."
    )
    resources: Resources = Field(default_factory=Resources, description="Where the eval stage runs.")

    @model_validator(mode="after")
    def _no_training_split(self) -> EvalSuite:
        if self.split == "train" and not self.allow_train_split:
            raise ValueError("evaluating on the train split is refused; set allow_train_split: true")
        return self

    def references(self) -> Iterator[Reference]:
        for field in ("models", "baselines"):
            for i, ref in enumerate(getattr(self, field)):
                yield from ref.references((field, i))
        yield ("dataset",), "Dataset", self.dataset
        yield ("prompt",), "Prompt", self.prompt
