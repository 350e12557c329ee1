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
    RelPath,
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


EnvVar = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")]
HubId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")]


class Rate(SpecModel):
    requests_per_minute: float = Field(
        gt=0, le=1_000_000, description="Sustained requests per minute per key."
    )
    burst: int = Field(default=10, ge=1, le=100_000, description="Requests a key may send at once.")


class RateLimit(Rate):
    per_key: dict[Name, Rate] = Field(
        default_factory=dict, description="Another rate for some keys (by name), e.g. a batch client."
    )


class Classifier(SpecModel):
    """A Hugging Face text-classification model screening prompts besides the patterns, e.g.
    protectai/deberta-v3-base-prompt-injection-v2. Loaded as safetensors, never remote code."""

    path: RelPath | None = Field(default=None, description="Folder of the model in the project.")
    hub_id: HubId | None = Field(default=None, description="Hub id of the model (with `revision`).")
    revision: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] | None = Field(
        default=None, description="The hub commit the model is pinned to."
    )
    labels: dict[
        Annotated[str, Field(min_length=1, max_length=64)], Literal["prompt_injection", "jailbreak"]
    ] = Field(
        default_factory=lambda: {"INJECTION": "prompt_injection", "JAILBREAK": "jailbreak"},
        description="The model's labels that mean an attack, and the flag each raises.",
    )
    threshold: float = Field(default=0.9, ge=0.5, le=1, description="Least probability that flags a prompt.")
    max_tokens: int = Field(default=512, ge=16, le=8192, description="Tokens of a prompt the model reads.")

    @model_validator(mode="after")
    def _one_source(self) -> Classifier:
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("a classifier names either `path` (a folder in the project) or `hub_id`")
        if self.hub_id is not None and self.revision is None:
            raise ValueError("a hub classifier is pinned: set `revision` to a 40-character commit hash")
        return self


class Abuse(SpecModel):
    detect: bool = Field(
        default=True,
        description="Flag prompt injection and jailbreak attempts (patterns from the review's probe sets) "
        "and PII in prompts on every request row.",
    )
    block: bool = Field(
        default=False,
        description="Refuse (400, code prompt_rejected) a request flagged prompt_injection or jailbreak; "
        "false: flag and log only.",
    )
    max_scan_chars: int = Field(
        default=20_000, ge=1000, le=1_000_000, description="Characters read from each end of a long prompt."
    )
    classifier: Classifier | None = Field(default=None, description="A model screening prompts too.")
    rate_anomaly_z: float = Field(
        default=5.0,
        gt=0,
        le=1000,
        description="Robust z-score (median/MAD) of a key's requests in a minute against its own active "
        "minutes (the other keys' peaks while it has fewer than 5) from which its rate is an anomaly.",
    )
    rate_anomaly_min_requests: int = Field(
        default=30, ge=1, description="Fewest requests in a minute that can be an anomaly."
    )
    repeated_pii: int = Field(
        default=3,
        ge=1,
        description="Requests with PII in the prompt from one key in a monitoring window that count the "
        "key in `repeated_pii_keys`.",
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
    # The abuse fields are absent from stage configs while unset, so they rerun nothing.
    api_keys_env: dict[Name, EnvVar] = Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="Named API keys: key name -> environment variable holding it. Each request is "
        "logged, rate-limited and monitored under its key's name (`anonymous` without a key); "
        "`api_key_env`'s key is named `default`.",
    )
    rate_limit: RateLimit | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="A token bucket per API key; a request over it gets 429 with Retry-After. "
        "Unset: no limit.",
    )
    abuse: Abuse = Field(
        default_factory=lambda: Abuse(),
        exclude_if=lambda v: v == Abuse(),
        description="Prompt-injection, jailbreak, PII and request-rate screening of every request.",
    )

    @model_validator(mode="after")
    def _key_names(self) -> Serving:
        if self.api_key_env and "default" in self.api_keys_env:
            raise ValueError(
                "api_keys_env names a key `default`, the name api_key_env's key has: rename it or move "
                "api_key_env into api_keys_env"
            )
        known = set(self.api_keys_env) | ({"default"} if self.api_key_env else set())
        if not known:
            known = {"anonymous"}
        unknown = sorted(set(self.rate_limit.per_key if self.rate_limit else {}) - known)
        if unknown:
            raise ValueError(
                f"rate_limit.per_key names {', '.join(unknown)}, not a key of this deployment "
                f"(keys: {', '.join(sorted(known))})"
            )
        return self


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


EnvName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]


class Loop(SpecModel):
    """What the scheduled monitor job proposes: the new feedback as a pull request, which then
    goes through review, CI and approval like any other change (nothing trains unreviewed)."""

    min_new_feedback: int = Field(
        default=20, ge=1, le=1_000_000, description="New exported rows needed before a pull request opens."
    )
    dataset: Name | None = Field(
        default=None,
        description="The Dataset the corrected and liked answers are added to; default: the dataset of "
        "the FineTune this Deployment serves.",
    )
    preference_dataset: Name | None = Field(
        default=None,
        description="Also export preference pairs (chosen/rejected) and add them to this Dataset "
        "(the one a preference FineTune trains on); unset: no preference export.",
    )
    license: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.+_:-]{0,99}$",
        description="License the users' feedback is under, recorded in each source's provenance "
        "(a Policy's data review checks it), e.g. `LicenseRef-user-feedback`.",
    )
    on_threshold: bool = Field(
        default=True,
        description="Also open the pull request (with whatever new feedback there is) when the monitoring "
        "run crossed a Policy threshold.",
    )
    branch_prefix: str = Field(
        default="llmops/feedback",
        pattern=r"^[a-z0-9][a-z0-9._/-]{0,60}[a-z0-9]$",
        description="Branches are `<branch_prefix>-<deployment>-<YYYYMMDD>`; an open pull request from "
        "such a branch means the loop waits for it instead of opening another.",
    )


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
    # both absent from stage configs when unset, so projects without them rerun nothing
    loop: Loop | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Close the loop: after each scheduled monitoring run, export the new feedback and "
        "open a pull request that adds it to the training data (`llmops loop open-pr`).",
    )
    alert_webhook_env: EnvName | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Repository secret (passed as the environment variable of the same name) holding a "
        "webhook URL; a failed monitoring run POSTs a JSON alert there (`llmops loop alert`).",
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
        loop = self.monitoring.loop
        if loop is not None and not self.monitoring.schedule:
            raise ValueError(
                "monitoring.loop runs in the scheduled monitor job: set monitoring.schedule (a cron line)"
            )
        if loop is not None and loop.dataset is None and not self.model.finetune:
            raise ValueError(
                "monitoring.loop: this Deployment serves no FineTune of this project, so there is no "
                "dataset to default to; set monitoring.loop.dataset"
            )
        return self

    def references(self) -> Iterator[Reference]:
        yield from self.model.references(("model",))
        for i, name in enumerate(self.policies):
            yield ("policies", i), "Policy", name
        if self.prompt:
            yield ("prompt",), "Prompt", self.prompt
        loop = self.monitoring.loop
        for field in ("dataset", "preference_dataset"):
            name = getattr(loop, field) if loop is not None else None
            if name:
                yield ("monitoring", "loop", field), "Dataset", name
