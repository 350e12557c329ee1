"""Types every spec kind shares: names, references, resources.

Names are identifiers (`^[a-z][a-z0-9-]{0,62}$`) so that no spec value can carry shell or
workflow syntax into a generated file; free text (descriptions, templates) never reaches a
command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

API_VERSION = "llmops/v1"

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$"),
    Field(description="An identifier: lowercase letters, digits and '-', starting with a letter."),
]
RunnerLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"),
    Field(description="A label of GitHub Actions runners, as `runs-on` takes it."),
]


def _relative_path(value: str) -> str:
    """Say which of the two is wrong: an absolute path, or one that climbs out through `..`.
    (Symlinks that lead out are refused where the file is read or written: `llmops.paths`.)"""
    if value.startswith("/"):
        raise ValueError(
            f"'{value}' is an absolute path; name it relative to the project root (the folder of "
            "llmops.yaml), and copy what lies outside the project into it"
        )
    if ".." in value.split("/"):
        raise ValueError(
            f"'{value}' climbs out of the project root through '..'; name a path inside the "
            "project, relative to the folder of llmops.yaml"
        )
    return value


RelPath = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.*?\[\]{}/,@+=-]{1,400}$"),
    AfterValidator(_relative_path),
    Field(description="A path relative to the project root; no '..', no absolute paths."),
]
HubId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)?$"),
    Field(description="An id on the Hugging Face hub: `name` or `owner/name`."),
]
Revision = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"),
    Field(description="A revision on the Hugging Face hub: a commit hash (reproducible), a tag or a branch."),
]
Environment = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$"),
    Field(description="An environment a Deployment serves in, such as `production`: a GitHub environment."),
]


# (where in the spec, the kind it names, the name): what `resolve` checks in one pass
Reference = tuple[tuple[str | int, ...], str, str]


class SpecModel(BaseModel):
    """Base of every spec object: unknown keys are errors, values are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class SpecBase(SpecModel):
    """Fields every spec file has. `description` and `tags` never change what a stage does."""

    apiVersion: Literal["llmops/v1"] = Field(
        default=API_VERSION, description="Version of the spec language; `llmops/v1` is the only one."
    )
    name: Name
    description: str = Field(default="", description="Free text for people; no effect on stages.")
    tags: dict[Name, str] = Field(
        default_factory=dict, description="Free-form key/values for people and tools; no effect on stages."
    )

    def references(self) -> Iterator[Reference]:
        """Every other spec this one names, for `resolve` to check in one pass."""
        return iter(())


class Resources(SpecModel):
    """Where a stage runs: a cpu or gpu runner class, or explicit labels, and how many GPUs."""

    runner: Literal["cpu", "gpu"] | None = Field(
        default=None, description="Runner class from llmops.yaml defaults; gpu when gpus > 0."
    )
    labels: list[RunnerLabel] | None = Field(
        default=None, description="Explicit `runs-on` labels; overrides the runner class."
    )
    gpus: int = Field(
        default=0,
        ge=0,
        le=64,
        description="GPUs the stage needs; above 0 it runs on the gpu labels, above 1 on the multi_gpu ones.",
    )
    strategy: Literal["auto", "ddp", "deepspeed", "fsdp"] = Field(
        default="auto",
        description="How a tune stage trains on more than one GPU: DDP (auto, ddp), DeepSpeed ZeRO or FSDP.",
    )
    timeout_minutes: int = Field(
        default=360,
        ge=1,
        le=4320,
        description="`timeout-minutes` of the stage's job in the generated workflows.",
    )

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


_MODEL_KEYS = ("finetune", "base_of", "path", "hub")


class ModelRef(SpecModel):
    """A model named by exactly one of: a FineTune's output, the base model of a FineTune,
    a local folder, or a pinned hub id."""

    finetune: Name | None = Field(
        default=None, description="The model a FineTune trained (its tune stage's output)."
    )
    base_of: Name | None = Field(default=None, description="The base model a FineTune is tuned from.")
    # `deployment:` is refused by `validate`, with the fix: nothing llmops can read records what a
    # Deployment serves (its deploy job serves the model its spec names, on the machine it runs
    # on), so an eval or a regression rule against it could only fail at run time. Reading it as
    # "the model the Deployment's spec names at this commit" would not be honest either: in a
    # pull request that changes that model, the baseline would become the candidate itself.
    # Kept as a field (out of the JSON schema) so that the error names it and says what to write.
    deployment: SkipJsonSchema[Name | None] = Field(
        default=None,
        description="Refused with the fix: name the model the Deployment serves (`finetune:`) instead.",
    )
    path: RelPath | None = Field(default=None, description="A local model folder (safetensors).")
    hub: HubId | None = Field(
        default=None, description="A Hugging Face hub model id; pin it with `revision`."
    )
    revision: Revision | None = Field(default=None, description="Commit, tag or branch of the hub model.")

    @field_validator("deployment")
    @classmethod
    def _not_a_deployment(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                f"a model cannot be named by a Deployment ('{value}'): no stage records what a "
                "Deployment serves, so nothing could evaluate or compare it; name the model itself: "
                f"`{{finetune: NAME}}` with the FineTune Deployment '{value}' serves, or base_of:, "
                "path: or hub:"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelRef:
        given = [k for k in _MODEL_KEYS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "name exactly one of finetune, base_of, path or hub"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.revision and not self.hub:
            raise ValueError("revision only goes with hub")
        return self

    @property
    def label(self) -> str:
        for key in _MODEL_KEYS:
            value = getattr(self, key)
            if value:
                return f"{key}:{value}" + (f"@{self.revision}" if self.revision else "")
        return "?"

    def references(self, loc: tuple[str | int, ...]) -> Iterator[Reference]:
        for key, kind in (("finetune", "FineTune"), ("base_of", "FineTune")):
            value = getattr(self, key)
            if value:
                yield (*loc, key), kind, value


class PinnedModel(SpecModel):
    """A model llmops loads itself (an embedding model, a reranker): a local folder, or a hub id
    pinned to a revision, so that an index built today is the index built tomorrow."""

    path: RelPath | None = Field(default=None, description="A local model folder (safetensors).")
    hub: HubId | None = Field(default=None, description="A Hugging Face hub model id; needs `revision`.")
    revision: Revision | None = Field(
        default=None, description="Commit (reproducible), tag or branch of the hub model."
    )

    @model_validator(mode="after")
    def _one_place(self) -> PinnedModel:
        if bool(self.path) == bool(self.hub):
            raise ValueError("name exactly one of path or hub")
        if self.hub and not self.revision:
            raise ValueError("a hub model needs a pinned revision (a commit hash)")
        if self.revision and not self.hub:
            raise ValueError("revision only goes with hub")
        return self

    @property
    def label(self) -> str:
        return f"path:{self.path}" if self.path else f"hub:{self.hub}@{self.revision}"
