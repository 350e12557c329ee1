"""Deployment: which model serves where, on which engine, checked how, watched how."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import (
    Environment,
    ModelRef,
    Name,
    Reference,
    Resources,
    SpecBase,
    SpecModel,
)

Cron = Annotated[
    str,
    Field(pattern=r"^[0-9*/,\- ]{9,100}$", description="A cron schedule, as GitHub Actions reads it (UTC)."),
]


class Engine(SpecModel):
    type: Literal["auto", "vllm", "transformers"] = Field(
        default="auto", description="auto: vLLM where CUDA and vLLM are installed, else `transformers serve`."
    )
    max_model_len: int | None = Field(
        default=None, ge=16, description="vLLM's --max-model-len; unset: the model's own."
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0, le=1, description="vLLM's --gpu-memory-utilization."
    )
    tensor_parallel_size: int = Field(
        default=1, ge=1, le=64, description="GPUs vLLM splits the model over (--tensor-parallel-size)."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="The engine's --dtype."
    )
    lora: Literal["multi", "merged"] = Field(
        default="multi",
        description="vLLM: serve a LoRA adapter over its base (multi) or merged into it; "
        "transformers serve always merges.",
    )
    startup_timeout_s: int = Field(
        default=900, ge=5, le=7200, description="How long the engine may take to answer /v1/models."
    )


class Serving(SpecModel):
    host: Literal["127.0.0.1", "0.0.0.0", "::1", "::"] = Field(
        default="127.0.0.1", description="Address the gateway listens on."
    )
    port: int = Field(default=8000, ge=1024, le=65535, description="Port the gateway listens on.")
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] | None = Field(
        default=None,
        description="Environment variable holding the key clients send as a Bearer token; unset: no key.",
    )


class SmokeTest(SpecModel):
    """One chat completion sent to a new engine before it goes live (greedy, `max_tokens` long)."""

    prompt: str = Field(min_length=1, max_length=10_000, description="The user message sent.")
    contains: list[str] = Field(
        default_factory=list, description="Strings the answer must contain (case-insensitive)."
    )
    not_contains: list[str] = Field(
        default_factory=list, description="Strings the answer must not contain (case-insensitive)."
    )
    max_latency_ms: int | None = Field(default=None, ge=1, description="Slowest round trip allowed.")
    max_tokens: int = Field(default=64, ge=1, le=4096, description="Completion length asked of the engine.")


class Monitoring(SpecModel):
    schedule: Cron | None = Field(
        default=None,
        description="Cron schedule of the monitor job in llmops-monitor.yml; unset: no scheduled job.",
    )
    feedback_db: Literal["sqlite", "postgresql"] = Field(
        default="sqlite",
        description="Where the gateway's records are: sqlite (the local file), or postgresql (named by "
        "LLMOPS_FEEDBACK_DB_URL).",
    )
    window_days: int = Field(
        default=7, ge=1, le=365, description="Days of traffic and feedback each monitoring run looks at."
    )


class Kubernetes(SpecModel):
    enabled: bool = Field(
        default=False, description="Write a KServe InferenceService to deploy/<name>/inferenceservice.yaml."
    )
    namespace: Name = Field(default="default", description="Namespace of the InferenceService.")
    runtime: Literal["vllm", "huggingface"] = Field(
        default="vllm",
        description="KServe runtime: vllm, or huggingface (its vLLM backend on GPUs, Transformers on CPUs).",
    )
    storage_uri: Annotated[str, Field(pattern=r"^(s3|gs|pvc|hf)://[^\s'\"`$\\]+$")] | None = Field(
        default=None,
        description="Where KServe loads the weights from; default: hf://<id>:<revision> for a hub model, "
        "else pvc://llmops-models/<name>.",
    )
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
    kind: Literal["Deployment"] = Field(description="Always `Deployment`.")
    model: ModelRef = Field(description="The model served.")
    environment: Environment = Field(
        description="The environment it serves in: the GitHub environment of its deploy job."
    )
    policies: list[Name] = Field(
        default_factory=list, description="Policies whose gates and approvals guard every deploy."
    )
    # absent from stage configs when unset, so deployments without a prompt rerun nothing
    prompt: Name | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The Prompt the gateway renders chat requests with; with `retrieval`, the gateway "
        "retrieves passages for the last user message and returns their citations.",
    )
    engine: Engine = Field(default_factory=Engine, description="The inference engine and its settings.")
    serving: Serving = Field(
        default_factory=Serving, description="Where the gateway listens and which key clients need."
    )
    smoke_tests: list[SmokeTest] = Field(
        default_factory=list, description="Requests a new engine must pass before it goes live."
    )
    monitoring: Monitoring = Field(
        default_factory=Monitoring, description="The scheduled monitoring of what the gateway recorded."
    )
    kubernetes: Kubernetes = Field(default_factory=Kubernetes, description="A KServe manifest for GitOps.")
    status: Literal["active", "retired"] = Field(
        default="active",
        description="retired: its deploy and monitor jobs and its KServe manifest go; the spec stays in git"
        " so the audit keeps its record.",
    )
    resources: Resources = Field(
        default_factory=Resources,
        description="Where the deploy job runs; `gpus` is also the GPUs of the KServe predictor.",
    )

    @model_validator(mode="after")
    def _model_is_deployable(self) -> Deployment:
        if self.model.deployment:
            raise ValueError("a Deployment serves a model, not another deployment")
        return self

    def references(self) -> Iterator[Reference]:
        yield from self.model.references(("model",))
        for i, name in enumerate(self.policies):
            yield ("policies", i), "Policy", name
        if self.prompt:
            yield ("prompt",), "Prompt", self.prompt
