"""`llmops.yaml`: settings shared by every spec of the project."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, StringConstraints, field_validator

from llmops.compiler.kinds.common import Environment, Name, RelPath, RunnerLabel, SpecBase, SpecModel

# What the generated jobs hand pip as one argument: a distribution name (PEP 508: starts and
# ends with a letter or digit, so never `-r file` or `--index-url`), optional extras, optional
# version specifiers; or `.` (this checkout) with optional extras. Not a path, an archive or a
# URL (pip would read those as a file or a place to fetch code from), and no git URL: the
# stage's extras are added to the distribution name (`with_extras` in compiler/emit/workflows.py),
# which a URL does not have. To install llmops from elsewhere, publish it to an index the runners
# reach, or vendor it and use `.`.
_DIST = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"
_EXTRAS = rf"\[{_DIST}(?:,{_DIST}){{0,19}}\]"
_SPECIFIER = r"(?:===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9][A-Za-z0-9.*+!_-]{0,63}"
PIP_REQUIREMENT = rf"^{_DIST}(?:{_EXTRAS})?(?:{_SPECIFIER}(?:,{_SPECIFIER}){{0,9}})?$|^\.(?:{_EXTRAS})?$"
_ARCHIVES = (".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz")
_EXAMPLE = "name a distribution (`llmops-gitops==0.2.0`), or `.` for this checkout"


def _pip_requirement(value: str) -> str:
    """Refuse, saying why, anything pip would not read as one requirement of a distribution."""
    shown = repr(value[:80])
    if value.startswith("-"):
        why = "starts with '-', so pip would read it as an option (`-r` reads a file, `-i` an index)"
    elif "://" in value or "@" in value:
        why = "is a URL; only a distribution from the configured index, or `.`, is installed"
    elif "/" in value or "\\" in value or value.startswith("./"):
        why = "is a path; pip would install whatever lies there"
    elif value.lower().endswith(_ARCHIVES):
        why = "reads as an archive file to pip"
    elif re.fullmatch(PIP_REQUIREMENT, value) is None:
        why = "is not a distribution name with optional [extras] and version specifiers"
    else:
        return value
    raise ValueError(f"{shown} {why}; {_EXAMPLE}")


PipRequirement = Annotated[
    str,
    AfterValidator(_pip_requirement),
    Field(
        json_schema_extra={"pattern": PIP_REQUIREMENT},
        description="A pip requirement: a distribution name, optional extras and version specifiers "
        "(`llmops-gitops==0.2.0`, `llmops-gitops[train]>=0.2,<0.3`), or `.` (this checkout, "
        "optionally `.[train]`). Never an option (`-r ...`), a path, an archive or a URL.",
    ),
]
Branch = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"),
    Field(description="A git branch name."),
]


class RunnerDefaults(SpecModel):
    """`runs-on` labels for each runner class a stage can ask for."""

    cpu: list[RunnerLabel] = Field(
        default_factory=lambda: ["ubuntu-latest"],
        min_length=1,
        description="Labels of cpu stages' jobs, and of the validate and results jobs.",
    )
    gpu: list[RunnerLabel] = Field(
        default_factory=lambda: ["self-hosted", "gpu"],
        min_length=1,
        description="Labels of gpu stages' jobs.",
    )
    multi_gpu: list[RunnerLabel] | None = Field(
        default=None,
        min_length=1,
        description="Labels for stages that ask for more than one GPU; the gpu labels when unset.",
    )


class Defaults(SpecModel):
    runners: RunnerDefaults = Field(
        default_factory=RunnerDefaults, description="`runs-on` labels for each runner class."
    )
    seed: int = Field(
        default=42, ge=0, description="Seed of every split, training and evaluation whose spec sets none."
    )


class Remote(SpecModel):
    """A DVC remote; its credentials come from the environment, never from the spec."""

    name: Name = Field(default="storage", description="Name of the remote in the generated jobs' DVC config.")
    url: Annotated[
        str,
        StringConstraints(pattern=r"^(s3|gs|azure|ssh|https?|hdfs|webdav)://[^\s'\"`$\\]+$|^/[^\s'\"`$\\]+$"),
    ] = Field(description="An s3, gs, azure, ssh, http(s), hdfs or webdav URL, or an absolute folder path.")
    secrets: list[Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]] | None = Field(
        default=None,
        max_length=20,
        description="Repository secrets the jobs that use the remote get as environment variables of "
        "the same name (DVC reads its credentials from them). Unset: by the URL's scheme, "
        "`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` for s3, `AZURE_STORAGE_CONNECTION_STRING` "
        "for azure, none otherwise (gs: use workload identity or set `GOOGLE_APPLICATION_CREDENTIALS` "
        "on the runner).",
    )

    @field_validator("secrets")
    @classmethod
    def _own_names(cls, names: list[str] | None) -> list[str] | None:
        """Each secret becomes a job environment variable: once each, and never one the runner,
        DVC or llmops itself sets (a job's env would shadow it)."""
        if names is None:
            return None
        if len(set(names)) != len(names):
            raise ValueError("each secret may be listed once")
        for name in names:
            if name in _RESERVED_ENV or name.startswith(_RESERVED_PREFIXES):
                raise ValueError(
                    f"{name} is set by the runner, DVC or llmops; name the secret something else"
                )
        return names

    def secret_names(self) -> list[str]:
        """The secrets the jobs export: the listed ones, else the usual ones for the URL's scheme."""
        if self.secrets is not None:
            return list(self.secrets)
        scheme = self.url.split("://", 1)[0] if "://" in self.url else ""
        return list(_SCHEME_SECRETS.get(scheme, ()))


_RESERVED_ENV = {"PATH", "HOME", "BASH_ENV", "ENV", "CI", "SHELL", "PYTHONPATH", "PYTHONHOME"}
_RESERVED_PREFIXES = ("LLMOPS_", "DVC_", "GITHUB_", "RUNNER_", "ACTIONS_", "LD_", "GIT_")
_SCHEME_SECRETS = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING",),
}


class Storage(SpecModel):
    remote: Remote | None = Field(
        default=None,
        description="The DVC remote the generated jobs pull inputs from and push outputs to; "
        "unset: outputs stay in DVC's local cache.",
    )


class Governance(SpecModel):
    """Which environments are protected and how many approvals a change to them needs."""

    protected_environments: list[Environment] = Field(
        default_factory=lambda: ["production"],
        description="A change that touches one of these environments needs at least `approvals` approvals.",
    )
    approvals: StrictInt = Field(
        default=1,
        ge=0,
        le=20,
        description="Approvals a pull request touching a protected environment needs.",
    )
    main_branch: Branch = Field(
        default="main",
        description="The main branch: pull requests into it and pushes to it run the workflows; "
        "`llmops enforce` checks its commits.",
    )


class Paths(SpecModel):
    """Where specs are found and where stages write; all relative to the project root."""

    specs: list[RelPath] = Field(
        default_factory=lambda: ["specs"],
        min_length=1,
        description="Folders (or glob patterns) whose YAML files, at any depth, are specs.",
    )
    artifacts: RelPath = Field(
        default="artifacts", description="Folder of the DVC-tracked outputs: datasets, models, evaluations."
    )
    metrics: RelPath = Field(default="metrics", description="Folder of the stages' metrics files.")
    plots: RelPath = Field(default="plots", description="Folder of the stages' plot data.")
    reports: RelPath = Field(default="reports", description="Folder of the stages' Markdown reports.")


class CI(SpecModel):
    """How generated workflows install llmops and which Python they use."""

    llmops_requirement: PipRequirement | None = Field(
        default=None, description="pip requirement for llmops; defaults to this llmops version."
    )
    python: Literal["python3", "python3.11", "python3.12", "python3.13"] = Field(
        default="python3", description="The Python the generated jobs make their virtual environment with."
    )
    install: Literal["pip", "preinstalled"] = Field(
        default="pip",
        description="`pip`: each job makes a virtual environment and installs `llmops_requirement` "
        "with the extras its stage needs. `preinstalled`: the runners already have that llmops (and "
        "those extras) on PATH, as a prepared self-hosted image or container does; each job checks "
        "the version instead of installing.",
    )


class Project(SpecBase):
    kind: Literal["Project"] = Field(description="Always `Project`.")
    defaults: Defaults = Field(default_factory=Defaults, description="Runner labels and the default seed.")
    storage: Storage = Field(default_factory=Storage, description="Where DVC keeps stage outputs.")
    governance: Governance = Field(
        default_factory=Governance, description="Protected environments, their approvals, the main branch."
    )
    paths: Paths = Field(default_factory=Paths, description="Where specs are found and where stages write.")
    ci: CI = Field(default_factory=CI, description="How the generated workflows install llmops.")
