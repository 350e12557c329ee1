"""`llmops run <stage>`: what `dvc repro` and CI jobs call to run one stage."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llmops.errors import CheckFailed, UsageError


def cmd_run(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.emit.dvc import stage_config_text
    from llmops.compiler.parse import load_project
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
    if stage.kind == "deploy":
        check_deploy_allowed(args.project, stage.spec.name)
    runner = runner_for(stage.kind)
    started = time.perf_counter()
    runner(json.loads(json.dumps(stage.config)), root)
    print(f"{stage.name}: done in {time.perf_counter() - started:.2f}s")
    return 0


def check_deploy_allowed(project: str, deployment: str) -> None:
    """A deployment acts only for a clean checkout of a commit that reached the main branch
    through an approved pull request whose gates passed (`llmops enforce`); else exit 1."""
    from llmops.cli.audit_cmd import _repo
    from llmops.cli.enforce_cmd import refusal_message, verdict_for

    repo, prefix = _repo(project)
    changed = sorted(
        {d.a_path or d.b_path for d in repo.index.diff(None)}
        | {d.a_path or d.b_path for d in repo.index.diff("HEAD")}
    )
    changed = [p for p in changed if p.startswith(prefix)]
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise CheckFailed(
            f"refused: deploy-{deployment} runs only from a clean checkout of a merged commit; "
            f"uncommitted changes: {shown}"
        )
    verdict = verdict_for(project, "HEAD", None, deployment, None)
    if not verdict.allowed:
        raise CheckFailed(refusal_message(verdict))
    pr = f"pull request #{verdict.pr}" if verdict.pr else "its pull request"
    approved = ", ".join(verdict.approvals) or "nobody (none needed)"
    gates = ", ".join(verdict.policies) or "none"
    print(f"deploy-{deployment}: {verdict.commit[:10]} arrived through {pr}, approved by {approved}")
    print(f"deploy-{deployment}: gates passed at that commit: {gates}")
