"""What a stage is: the `Stage` the graph and emitters see, and the typed config its runner gets.

A stage's config holds only what changes its result (spec fields without free text, resolved
upstream paths, the runner's version). The compiler writes it to `.llmops/stages/<stage>.json`,
which DVC tracks as params, so a new description reruns nothing and a new learning rate reruns
exactly the tuning stage and what follows it. Each stage kind has one pydantic config model; the
runner registry validates the JSON into it once, so runners read typed fields and the defaults
live only in the spec models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from llmops.compiler.layout import STAGE_CONFIG_DIR, STAGE_SOURCES_DIR
from llmops.compiler.parse import SpecFile

# Fields that never change a stage's result: editing them reruns nothing. (`status` decides
# whether a stage exists at all; an active spec's stages do not depend on it.)
NOT_RESULT_FIELDS = {"description": True, "tags": True, "apiVersion": True, "status": True}
NOT_RESULT_RESOURCES = ("runner", "labels", "timeout_minutes")


def result_fields(spec: BaseModel) -> dict[str, Any]:
    """A spec's fields that change what its stages produce, as JSON data."""
    data = spec.model_dump(mode="json", exclude=NOT_RESULT_FIELDS)
    if isinstance(data.get("resources"), dict):
        for key in NOT_RESULT_RESOURCES:
            data["resources"].pop(key, None)
    return data


# A spec inside a stage config: the whole typed model for the runner, its result fields on disk.
AS_RESULT = PlainSerializer(result_fields, return_type=dict)


class ConfigModel(BaseModel):
    """Base of stage configs and their parts: strict keys, so a stale or hand-edited file fails."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Outputs(ConfigModel):
    outs: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    plots: list[str] = Field(default_factory=list)
    reports: list[str] = Field(default_factory=list)


class PathModel(ConfigModel):
    """A model in a folder of the project (an upstream stage's output or a local checkpoint)."""

    path: str


class HubModel(ConfigModel):
    """A model by hub id, pinned to a revision unless the spec allows otherwise."""

    hub: str
    revision: str | None = None


class DeploymentModel(ConfigModel):
    """Whatever a Deployment serves now (recorded by its deploy stage)."""

    deployment: str


ModelLocation = PathModel | HubModel | DeploymentModel


class StageConfig(ConfigModel):
    """What every stage config holds; each stage kind narrows `kind`, `spec` and `inputs`."""

    stage: str
    kind: str
    runner_version: int
    outputs: Outputs

    def params(self) -> dict[str, Any]:
        """The JSON data written to `.llmops/stages/<stage>.json`."""
        return self.model_dump(mode="json")


def Result(model: type[BaseModel]) -> Any:
    """`spec: Result(FineTune)`: the typed spec, written to disk as its result fields only."""
    return Annotated[model, AS_RESULT]


@dataclass(frozen=True)
class Matrix:
    """Where a sweep trial sits in its sweep. DVC gets all trials of one sweep as one `matrix`
    stage named `group`, and names each trial `<group>@<key>` itself; the compiler names the
    trials the same way, so `llmops run`, `dvc repro` and the workflows agree on every name."""

    group: str
    key: str
    index: int  # place in the sweep's order (DVC's matrix order)
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (matrix key, values) in the spec's order
    outs: tuple[str, ...]  # the trial's outputs with `${key}` where its key goes
    metrics: tuple[str, ...]
    plots: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    spec: SpecFile
    config: StageConfig | None
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    runner: str = "cpu"
    runs_on: tuple[str, ...] = ()
    gpus: int = 0
    timeout_minutes: int = 360
    in_pipeline: bool = True
    environment: str | None = None
    schedule: str | None = None
    plot_props: dict[str, dict[str, Any]] = field(default_factory=dict)
    matrix: Matrix | None = None
    # the spec files this stage's config was built from (its own, those it refers to, llmops.yaml)
    sources: tuple[str, ...] = ()

    @property
    def config_path(self) -> str:
        return f"{STAGE_CONFIG_DIR}/{self.name}.json"

    @property
    def sources_path(self) -> str:
        return f"{STAGE_SOURCES_DIR}/{self.name}.json"

    def params(self) -> dict[str, Any]:
        return self.config.params() if self.config is not None else {}
