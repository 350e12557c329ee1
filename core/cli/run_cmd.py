"""`llmops run <stage>`: what `dvc repro` and CI jobs call to run one stage."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llmops.errors import UsageError


def cmd_run(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.emit.dvc import stage_config_text
    from llmops.compiler.load import load_project
    from llmops.runners.registry import runner_for

    root = Path(args.project).resolve()
    _, graph = plan_graph(load_project(root))
    names = [s.name for s in graph.order]
    if args.stage not in names:
        hint = suggest(args.stage, names)
        raise UsageError(
            f"no stage '{args.stage}'" + (f"; {hint}" if hint else f"; stages: {', '.join(names)}")
        )
    stage = graph.stage(args.stage)
    if stage.in_pipeline:
        on_disk = root / stage.config_path
        if not on_disk.is_file() or on_disk.read_text(encoding="utf-8") != stage_config_text(stage):
            raise UsageError(f"{stage.config_path} does not match the specs; run `llmops compile` first")
    runner = runner_for(stage.kind)
    started = time.perf_counter()
    runner(json.loads(json.dumps(stage.config)), root)
    print(f"{stage.name}: done in {time.perf_counter() - started:.2f}s")
    return 0
