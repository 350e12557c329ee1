"""Types every spec kind shares: names, references, resources.

Names are identifiers (`^[a-z][a-z0-9-]{0,62}$`) so that no spec value can carry shell or
workflow syntax into a generated file; free text (descriptions, templates) never reaches a
command line.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

API_VERSION = "llmops/v1"

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$"),
    Field(description="An identifier: lowercase letters, digits and '-', starting with a letter."),
]
RunnerLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]


def _relative_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError("use a path relative to the project root, without '..'")
    return value


RelPath = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.*?\[\]{}/,@+=-]{1,400}$"),
    AfterValidator(_relative_path),
    Field(description="A path relative to the project root; no '..', no absolute paths."),
]
HubId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)?$")]
Revision = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")]
Environment = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class SpecModel(BaseModel):
    """Base of every spec object: unknown keys are errors, values are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class SpecBase(SpecModel):
    """Fields every spec file has. `description` and `tags` never change what a stage does."""

    apiVersion: Literal["llmops/v1"] = API_VERSION
    name: Name
    description: str = ""
    tags: dict[Name, str] = Field(
        default_factory=dict, description="Free-form key/values for people and tools; no effect on stages."
    )


class Resources(SpecModel):
    """Where a stage runs: a cpu or gpu runner class, or explicit labels, and how many GPUs."""

    runner: Literal["cpu", "gpu"] | None = Field(
        default=None, description="Runner class from llmops.yaml defaults; gpu when gpus > 0."
    )
    labels: list[RunnerLabel] | None = Field(
        default=None, description="Explicit `runs-on` labels; overrides the runner class."
    )
    gpus: int = Field(default=0, ge=0, le=64)
    strategy: Literal["auto", "ddp", "deepspeed", "fsdp"] = "auto"
    timeout_minutes: int = Field(default=360, ge=1, le=4320)

    @property
    def runner_class(self) -> Literal["cpu", "gpu"]:
        if self.runner is not None:
            return self.runner
        return "gpu" if self.gpus > 0 else "cpu"

    @model_validator(mode="after")
    def _cpu_has_no_gpus(self) -> Resources:
        if self.runner == "cpu" and self.gpus > 0:
            raise ValueError("runner 'cpu' cannot ask for gpus; use runner: gpu")
        return self


class ModelRef(SpecModel):
    """A model named by exactly one of: a FineTune's output, the base model of a FineTune,
    what a Deployment serves now, a local folder, or a pinned hub id."""

    finetune: Name | None = None
    base_of: Name | None = None
    deployment: Name | None = None
    path: RelPath | None = None
    hub: HubId | None = None
    revision: Revision | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelRef:
        given = [k for k in ("finetune", "base_of", "deployment", "path", "hub") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "name exactly one of finetune, base_of, deployment, path or hub"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.revision and not self.hub:
            raise ValueError("revision only goes with hub")
        return self

    @property
    def label(self) -> str:
        for key in ("finetune", "base_of", "deployment", "path", "hub"):
            value = getattr(self, key)
            if value:
                return f"{key}:{value}" + (f"@{self.revision}" if self.revision else "")
        return "?"
