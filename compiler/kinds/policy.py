"""Policy: rules over evaluation and review results, and the approvals a change needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictInt, model_validator

from llmops.compiler.kinds.common import Environment, ModelRef, Name, Reference, RelPath, SpecBase, SpecModel

GitHubUser = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]+)?$")]


class AppliesTo(SpecModel):
    """What the policy governs. Naming nothing means governing everything (see
    `llmops.compiler.governance`)."""

    finetunes: list[Name] = Field(default_factory=list)
    deployments: list[Name] = Field(default_factory=list)
    environments: list[Environment] = Field(default_factory=list)

    @property
    def names_nothing(self) -> bool:
        return not (self.finetunes or self.deployments or self.environments)


class RuleBase(SpecModel):
    """The keys every rule has, whatever its type.

    Every type carries every key, null when unset, and a type's defaults are properties
    (`limit`), never stored values: the gate stage's config is the Policy dumped to JSON, DVC
    hashes it to decide whether the gate reruns, so a rule must dump the same keys and values
    however the models behind it are arranged. Each type says in its docstring which keys it
    reads; the others are accepted and ignored, as they always were.
    """

    name: Name | None = None
    type: str
    suite: Name | None = None
    metric: str | None = None
    model: ModelRef | None = None
    baseline: ModelRef | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    def label(self, index: int) -> str:
        """What results call the rule: its `name`, else `<type>#<place in rules>`."""
        return self.name or f"{self.type}#{index}"


class _SuiteRule(RuleBase):
    """A rule over an EvalSuite's results: it names the suite and the figure it reads."""

    @model_validator(mode="after")
    def _names_suite_and_metric(self) -> _SuiteRule:
        if not (self.suite and self.metric):
            raise ValueError(f"a {self.type} rule names a suite and a metric")
        return self


class ThresholdRule(_SuiteRule):
    """`metric` of `model` (default: every model of `suite`) within `min` and/or `max`."""

    type: Literal["threshold"]

    @model_validator(mode="after")
    def _sets_a_bound(self) -> ThresholdRule:
        if self.min is None and self.max is None:
            raise ValueError("a threshold rule sets min or max")
        return self


class RegressionRule(_SuiteRule):
    """`metric` of `model` (default: every model of `suite`) may drop at most `max_drop` against
    `baseline` (default: every baseline of `suite`)."""

    type: Literal["regression"]

    @model_validator(mode="after")
    def _sets_max_drop(self) -> RegressionRule:
        if self.max_drop is None:
            raise ValueError("a regression rule sets max_drop")
        return self

    @property
    def limit(self) -> float:
        return float(self.max_drop or 0.0)


class BiasGapRule(RuleBase):
    """The review's `bias_gap` of each FineTune (`model`, else the policy's) at most `max`."""

    type: Literal["bias-gap"]

    @model_validator(mode="after")
    def _sets_max(self) -> BiasGapRule:
        if self.max is None:
            raise ValueError(
                "a bias-gap rule sets max (the largest change allowed between the sides of a pair)"
            )
        return self

    @property
    def limit(self) -> float:
        return float(self.max or 0.0)


class LeakedSecretsRule(RuleBase):
    """The review's `leaked_secrets` of each FineTune at most `max` (default 0: none)."""

    type: Literal["leaked-secrets"]
    DEFAULT_MAX: ClassVar[float] = 0.0

    @property
    def limit(self) -> float:
        return self.max if self.max is not None else self.DEFAULT_MAX


class LicenseRule(RuleBase):
    """Each FineTune's licenses (base model and data) among the review's `licenses_allowed`."""

    type: Literal["license"]


class RefusalRule(RuleBase):
    """The share of the review's security probes each FineTune refused at least `min` (default
    1.0: every one)."""

    type: Literal["refusal"]
    DEFAULT_MIN: ClassVar[float] = 1.0

    @property
    def limit(self) -> float:
        return self.min if self.min is not None else self.DEFAULT_MIN


ReviewRule = BiasGapRule | LeakedSecretsRule | LicenseRule | RefusalRule
Rule = Annotated[
    ThresholdRule | RegressionRule | BiasGapRule | LeakedSecretsRule | LicenseRule | RefusalRule,
    Field(discriminator="type"),
]


class BiasProbes(SpecModel):
    templates: list[str] = Field(default_factory=list)
    swaps: dict[str, list[list[str]]] = Field(default_factory=dict)


class Review(SpecModel):
    bias: BiasProbes = Field(default_factory=BiasProbes)
    security_probes: list[RelPath] = Field(default_factory=list)
    require_refusal: bool = True
    licenses_allowed: list[str] = Field(default_factory=lambda: ["apache-2.0", "mit"])


class Approvals(SpecModel):
    # A strict integer: `2.0` or `"2"` is an error at `llmops validate`, never read as another
    # count. Enforcement reads these from the base commit too (`llmops.audit.rules`).
    min: StrictInt = Field(default=1, ge=0, le=20)
    reviewers: list[GitHubUser] = Field(default_factory=list)
    codeowners: bool = False


MonitoringThreshold = Literal[
    "min_rating",
    "max_thumbs_down_rate",
    "max_p95_latency_ms",
    "max_drift",
    # deployments whose prompt retrieves: requests that found no passage, and retrieval latency
    "max_empty_retrieval_rate",
    "max_p95_retrieval_ms",
    # abuse (the gateway's flags, `serving.abuse`): shares of requests, and counts of API keys
    "max_injection_rate",
    "max_jailbreak_rate",
    "max_pii_prompt_rate",
    "max_rate_limited_rate",
    "max_rate_anomaly_keys",
    "max_repeated_pii_keys",
]
_RATES = (
    "max_empty_retrieval_rate",
    "max_injection_rate",
    "max_jailbreak_rate",
    "max_pii_prompt_rate",
    "max_rate_limited_rate",
)


class Policy(SpecBase):
    kind: Literal["Policy"]
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    rules: list[Rule] = Field(default_factory=list)
    review: Review | None = None
    approvals: Approvals = Field(default_factory=Approvals)
    monitoring: dict[MonitoringThreshold, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rates_are_shares(self) -> Policy:
        for key in _RATES:
            value = self.monitoring.get(key)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"monitoring.{key} is a share of requests: between 0 and 1 (got {value})")
        return self

    def references(self) -> Iterator[Reference]:
        for i, name in enumerate(self.applies_to.finetunes):
            yield ("applies_to", "finetunes", i), "FineTune", name
        for i, name in enumerate(self.applies_to.deployments):
            yield ("applies_to", "deployments", i), "Deployment", name
        for i, rule in enumerate(self.rules):
            if rule.suite:
                yield ("rules", i, "suite"), "EvalSuite", rule.suite
            for field in ("model", "baseline"):
                ref = getattr(rule, field)
                if ref is not None:
                    yield from ref.references(("rules", i, field))
