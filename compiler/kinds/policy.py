"""Policy: rules over evaluation and review results, and the approvals a change needs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import Environment, ModelRef, Name, RelPath, SpecBase, SpecModel

GitHubUser = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]+)?$")]


class AppliesTo(SpecModel):
    finetunes: list[Name] = Field(default_factory=list)
    deployments: list[Name] = Field(default_factory=list)
    environments: list[Environment] = Field(default_factory=list)


class Rule(SpecModel):
    """One gate. `suite` + `metric` read an EvalSuite's results; review rules read the review."""

    name: Name | None = None
    type: Literal["threshold", "regression", "bias-gap", "leaked-secrets", "license", "refusal"]
    suite: Name | None = None
    metric: str | None = None
    model: ModelRef | None = None
    baseline: ModelRef | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _fields_for_type(self) -> Rule:
        if self.type in ("threshold", "regression") and not (self.suite and self.metric):
            raise ValueError(f"a {self.type} rule names a suite and a metric")
        if self.type == "threshold" and self.min is None and self.max is None:
            raise ValueError("a threshold rule sets min or max")
        if self.type == "regression" and self.max_drop is None:
            raise ValueError("a regression rule sets max_drop")
        if self.type == "bias-gap" and self.max is None:
            raise ValueError(
                "a bias-gap rule sets max (the largest change allowed between the sides of a pair)"
            )
        return self


class BiasProbes(SpecModel):
    templates: list[str] = Field(default_factory=list)
    swaps: dict[str, list[list[str]]] = Field(default_factory=dict)


class Review(SpecModel):
    bias: BiasProbes = Field(default_factory=BiasProbes)
    security_probes: list[RelPath] = Field(default_factory=list)
    require_refusal: bool = True
    licenses_allowed: list[str] = Field(default_factory=lambda: ["apache-2.0", "mit"])


class Approvals(SpecModel):
    min: int = Field(default=1, ge=0, le=20)
    reviewers: list[GitHubUser] = Field(default_factory=list)
    codeowners: bool = False


class Policy(SpecBase):
    kind: Literal["Policy"]
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    rules: list[Rule] = Field(default_factory=list)
    review: Review | None = None
    approvals: Approvals = Field(default_factory=Approvals)
    monitoring: dict[
        Literal["min_rating", "max_thumbs_down_rate", "max_p95_latency_ms", "max_drift"], float
    ] = Field(default_factory=dict)
