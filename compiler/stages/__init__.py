"""Stages: the units of work each spec becomes. One builder module per stage kind
(`data.py`, `tune.py`, ...), each with its typed config (`CONFIG`) and `build(ctx, spec_file)`;
the catalog (`compiler/catalog.py`) says which spec kinds build which stage kinds."""

from __future__ import annotations

from llmops.compiler import catalog
from llmops.compiler.resolve import Index
from llmops.compiler.stages.context import BuildContext
from llmops.compiler.stages.model import STAGE_CONFIG_DIR, STAGE_SOURCES_DIR, Matrix, Stage, StageConfig

__all__ = ["STAGE_CONFIG_DIR", "STAGE_SOURCES_DIR", "Matrix", "Stage", "StageConfig", "build_stages"]


def build_stages(index: Index) -> list[Stage]:
    ctx = BuildContext(index)
    builders = [(row.spec_kind, row.build_function()) for row in catalog.CATALOG]
    stages: list[Stage] = []
    for spec_kind in dict.fromkeys(kind for kind, _ in builders):
        for sf in index.all(spec_kind):
            for kind, build in builders:
                if kind == spec_kind:
                    ctx.begin(sf)
                    stages += build(ctx, sf)
    return stages
