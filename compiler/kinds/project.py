"""`llmops.yaml`: settings shared by every spec of the project."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from llmops.compiler.kinds.common import Environment, Name, RelPath, RunnerLabel, SpecBase, SpecModel

PipRequirement = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._\[\]\-]+(?:[=<>!~]=?[A-Za-z0-9.*+-]+)?$|^\.(\[[a-z,-]+\])?$"),
]
Branch = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")]


class RunnerDefaults(SpecModel):
    """`runs-on` labels for each runner class a stage can ask for."""

    cpu: list[RunnerLabel] = Field(default_factory=lambda: ["ubuntu-latest"], min_length=1)
    gpu: list[RunnerLabel] = Field(default_factory=lambda: ["self-hosted", "gpu"], min_length=1)
    multi_gpu: list[RunnerLabel] | None = Field(
        default=None,
        min_length=1,
        description="Labels for stages that ask for more than one GPU; the gpu labels when unset.",
    )


class Defaults(SpecModel):
    runners: RunnerDefaults = Field(default_factory=RunnerDefaults)
    seed: int = Field(default=42, ge=0)


class Remote(SpecModel):
    """A DVC remote; its credentials come from the environment, never from the spec."""

    name: Name = "storage"
    url: Annotated[
        str,
        StringConstraints(pattern=r"^(s3|gs|azure|ssh|https?|hdfs|webdav)://[^\s'\"`$\\]+$|^/[^\s'\"`$\\]+$"),
    ]


class Storage(SpecModel):
    remote: Remote | None = None


class Governance(SpecModel):
    """Which environments are protected and how many approvals a change to them needs."""

    protected_environments: list[Environment] = Field(default_factory=lambda: ["production"])
    approvals: int = Field(default=1, ge=0, le=20)
    main_branch: Branch = "main"


class Paths(SpecModel):
    """Where specs are found and where stages write; all relative to the project root."""

    specs: list[RelPath] = Field(default_factory=lambda: ["specs"], min_length=1)
    artifacts: RelPath = "artifacts"
    metrics: RelPath = "metrics"
    plots: RelPath = "plots"
    reports: RelPath = "reports"


class CI(SpecModel):
    """How generated workflows install llmops and which Python they use."""

    llmops_requirement: PipRequirement | None = Field(
        default=None, description="pip requirement for llmops; defaults to this llmops version."
    )
    python: Literal["python3", "python3.11", "python3.12", "python3.13"] = "python3"


class Project(SpecBase):
    kind: Literal["Project"]
    defaults: Defaults = Field(default_factory=Defaults)
    storage: Storage = Field(default_factory=Storage)
    governance: Governance = Field(default_factory=Governance)
    paths: Paths = Field(default_factory=Paths)
    ci: CI = Field(default_factory=CI)
