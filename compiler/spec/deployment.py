"""Deployment: which model serves where, on which engine, checked how, watched how."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.spec.common import Environment, ModelRef, Name, Resources, SpecBase, SpecModel

Cron = Annotated[str, Field(pattern=r"^[0-9*/,\- ]{9,100}$")]


class Engine(SpecModel):
    type: Literal["auto", "vllm", "transformers"] = "auto"
    max_model_len: int | None = Field(default=None, ge=16)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    lora: Literal["multi", "merged"] = "multi"


class Serving(SpecModel):
    host: Literal["127.0.0.1", "0.0.0.0", "::1", "::"] = "127.0.0.1"
    port: int = Field(default=8000, ge=1024, le=65535)
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] | None = None


class SmokeTest(SpecModel):
    prompt: str = Field(min_length=1, max_length=10_000)
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    max_latency_ms: int | None = Field(default=None, ge=1)


class Monitoring(SpecModel):
    schedule: Cron | None = None
    feedback_db: Literal["sqlite", "postgresql"] = "sqlite"


class Kubernetes(SpecModel):
    enabled: bool = False
    namespace: Name = "default"
    runtime: Literal["vllm", "huggingface"] = "vllm"
    storage_uri: Annotated[str, Field(pattern=r"^(s3|gs|pvc|hf)://[^\s'\"`$\\]+$")] | None = None


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
