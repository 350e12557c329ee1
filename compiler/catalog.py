"""The catalog of stage kinds: one row per kind holds everything that is true of it.

The compiler builds stages from it, `llmops run` finds the runner and the config model through
it, the workflows take the install extras and job placement from it, the graph renderer its
shape, and governance which kinds act on the world. The row names its builder module and runner
by import path, so reading the catalog imports no builder and no runner (the CLI stays fast and
the compiler never imports a runner).

Adding a stage kind: a spec model (compiler/kinds/), a builder module with `CONFIG` and
`build()` (compiler/stages/), a runner package with `run(config, root)` (runners/), and a row
here. `tests/compiler/test_catalog.py` holds the rows against all three.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from llmops.compiler.stages.model import StageConfig

Shape = Literal["box", "diamond", "hexagon", "ellipse"]
TRIAL_PREFIX = "trial"  # the trials of a sweep: `trial-<finetune>@<key>`, one DVC matrix stage


@dataclass(frozen=True)
class StageKind:
    kind: str  # the stage kind, as in a stage config's `kind`
    spec_kind: str  # the spec kind whose specs build stages of this kind
    prefix: str  # stage names are `<prefix>-<spec name>`
    builder: str  # module with `CONFIG` (the typed stage config) and `build(ctx, spec_file)`
    runner: str  # module with `run(config, root)`
    version: int  # bump when the runner's outputs change for the same inputs: DVC reruns them
    extras: tuple[str, ...] = ()  # llmops extras the runner imports: a CI job installs only these
    in_pipeline: bool = True  # a dvc.yaml stage; else a workflow job only (deploy, monitor)
    acts_on_world: bool = False  # changes something outside the repository (serves a model)
    needs_approval: bool = False  # runs only for an approved merge (`llmops enforce`)
    shape: Shape = "box"  # in `llmops graph`

    def config_model(self) -> type[StageConfig]:
        return importlib.import_module(self.builder).CONFIG  # type: ignore[no-any-return]

    def build_function(self) -> Any:
        return importlib.import_module(self.builder).build


_S = "llmops.compiler.stages."
_R = "llmops.runners."

# In build order: by spec kind, then the kinds one spec becomes (a FineTune: base, tune, select).
CATALOG: tuple[StageKind, ...] = (
    StageKind("data", "Dataset", "data", _S + "data", _R + "data.run", 2, ("data",)),
    # chunks, embeddings and the vector index of a KnowledgeIndex; before the prompts that read it
    StageKind("index", "KnowledgeIndex", "index", _S + "index", _R + "index.run", 1, ("rag",)),
    StageKind("prompt", "Prompt", "prompt", _S + "prompt", _R + "prompt.run", 1),
    StageKind("base", "FineTune", "base", _S + "base", _R + "base.run", 1, ("train",)),
    StageKind("tune", "FineTune", "tune", _S + "tune", _R + "tune.run", 1, ("train",)),
    # the best trial of a sweep, copied where a plain tune stage writes: it takes `tune-<name>`
    StageKind("select", "FineTune", "tune", _S + "select", _R + "select.run", 1),
    StageKind("eval", "EvalSuite", "eval", _S + "eval", _R + "eval.run", 1, ("train", "eval")),
    StageKind("review", "Policy", "review", _S + "review", _R + "review.run", 1),
    StageKind("gate", "Policy", "gate", _S + "gate", _R + "gate.run", 1, shape="diamond"),
    StageKind(
        "deploy",
        "Deployment",
        "deploy",
        _S + "deploy",
        _R + "deploy.run",
        1,
        # merging an adapter (peft), the engine (transformers serve) and the smoke tests
        ("train", "serve"),
        in_pipeline=False,
        acts_on_world=True,
        needs_approval=True,
        shape="hexagon",
    ),
    StageKind(
        "monitor",
        "Deployment",
        "monitor",
        _S + "monitor",
        _R + "monitor.run",
        1,
        # the gateway's store (SQLAlchemy); embedding drift runs only where torch is installed
        ("serve",),
        in_pipeline=False,
        shape="ellipse",
    ),
)
KINDS: dict[str, StageKind] = {row.kind: row for row in CATALOG}


def stage_kind(kind: str) -> StageKind:
    return KINDS[kind]


def stage_name(kind: str, spec_name: str) -> str:
    """The one place stage names are spelled: `tune-support`, `gate-release`, ..."""
    return f"{KINDS[kind].prefix}-{spec_name}"


def spec_of_stage(kind: str, stage: str) -> str | None:
    """The spec name in a stage name of this kind (`gate-release` -> `release`), else None."""
    head = f"{KINDS[kind].prefix}-"
    return stage[len(head) :] if stage.startswith(head) and len(stage) > len(head) else None


def trial_group(finetune: str) -> str:
    """The DVC matrix stage (and workflow job) of a FineTune's sweep trials."""
    return f"{TRIAL_PREFIX}-{finetune}"


def spec_kinds() -> tuple[str, ...]:
    """Spec kinds that become stages, in build order."""
    return tuple(dict.fromkeys(row.spec_kind for row in CATALOG))
