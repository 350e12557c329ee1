"""Deployment: which model serves where, on which engine, checked how, watched how."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import Environment, ModelRef, Name, Resources, SpecBase, SpecModel

Cron = Annotated[str, Field(pattern=r"^[0-9*/,\- ]{9,100}$")]


class Engine(SpecModel):
    type: Literal["auto", "vllm", "transformers"] = "auto"
    max_model_len: int | None = Field(default=None, ge=16)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    lora: Literal["multi", "merged"] = Field(
        default="multi",
        description="vLLM: serve a LoRA adapter over its base (multi) or merged into it; "
        "transformers serve always merges.",
    )
    startup_timeout_s: int = Field(
        default=900, ge=5, le=7200, description="How long the engine may take to answer /v1/models."
    )


class Serving(SpecModel):
    host: Literal["127.0.0.1", "0.0.0.0", "::1", "::"] = "127.0.0.1"
    port: int = Field(default=8000, ge=1024, le=65535)
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] | None = None


class SmokeTest(SpecModel):
    """One chat completion sent to a new engine before it goes live (greedy, `max_tokens` long)."""

    prompt: str = Field(min_length=1, max_length=10_000)
    contains: list[str] = Field(
        default_factory=list, description="Strings the answer must contain (case-insensitive)."
    )
    not_contains: list[str] = Field(
        default_factory=list, description="Strings the answer must not contain (case-insensitive)."
    )
    max_latency_ms: int | None = Field(default=None, ge=1, description="Slowest round trip allowed.")
    max_tokens: int = Field(default=64, ge=1, le=4096, description="Completion length asked of the engine.")


class Monitoring(SpecModel):
    schedule: Cron | None = None
    feedback_db: Literal["sqlite", "postgresql"] = "sqlite"
    window_days: int = Field(
        default=7, ge=1, le=365, description="Days of traffic and feedback each monitoring run looks at."
    )


class Kubernetes(SpecModel):
    enabled: bool = False
    namespace: Name = "default"
    runtime: Literal["vllm", "huggingface"] = "vllm"
    storage_uri: Annotated[str, Field(pattern=r"^(s3|gs|pvc|hf)://[^\s'\"`$\\]+$")] | None = None
    cpu: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?m?$")] = Field(
        default="2", description="CPU request and limit of the predictor (a Kubernetes quantity)."
    )
    memory: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")] = Field(
        default="16Gi", description="Memory request and limit of the predictor (a Kubernetes quantity)."
    )
    service_account: Name | None = Field(
        default=None, description="Service account with the credentials to read storage_uri."
    )


class Deployment(SpecBase):
    kind: Literal["Deployment"]
    model: ModelRef
    environment: Environment
    policies: list[Name] = Field(default_factory=list)
    engine: Engine = Field(default_factory=Engine)
    serving: Serving = Field(default_factory=Serving)
    smoke_tests: list[SmokeTest] = Field(default_factory=list)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)
    status: Literal["active", "retired"] = "active"
    resources: Resources = Field(default_factory=Resources)

    @model_validator(mode="after")
    def _model_is_deployable(self) -> Deployment:
        if self.model.deployment:
            raise ValueError("a Deployment serves a model, not another deployment")
        return self
