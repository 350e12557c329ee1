"""`llmops run <stage>`: what `dvc repro` and CI jobs call to run one stage.

A pipeline stage runs from its own files: `.llmops/stages/<stage>.json` (its typed config) and
`.llmops/sources/<stage>.json` (the spec files it came from, with a digest). Only those spec
files are parsed to check the config is fresh, so a stage costs the same in a project of ten
specs as in one of five thousand. When the digest differs (something else in those files
changed) or a file is missing, the whole project is compiled and the config compared, as a
fallback that is exact. Deploy and monitor stages are workflow jobs with no config file: they
always compile the project.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from llmops.compiler.catalog import stage_name
from llmops.compiler.layout import STAGE_CONFIG_DIR as CONFIG_DIR
from llmops.compiler.layout import STAGE_SOURCES_DIR as SOURCES_DIR
from llmops.errors import CheckFailed, LlmopsError, UsageError

_STALE = "does not match the specs; run `llmops compile` first"


def cmd_run(args: argparse.Namespace) -> int:
    root = Path(args.project).resolve()
    config = _fresh_config(root, args.stage)
    if config is None:
        config = _compiled_config(root, args.stage)
    from llmops.runners.registry import check_outputs, runner_for, typed_config

    typed = typed_config(config, where=f"{CONFIG_DIR}/{args.stage}.json")
    if typed.kind == "deploy":
        check_deploy_allowed(args.project, typed.spec.name)
    check_outputs(typed, root)
    started = time.perf_counter()
    runner_for(typed.kind)(typed, root)
    print(f"{args.stage}: done in {time.perf_counter() - started:.2f}s")
    return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fresh_config(root: Path, stage: str) -> dict[str, Any] | None:
    """The stage's config on disk when its sources' digest still matches; else None."""
    if "/" in stage or stage.startswith("."):
        return None
    try:
        text = (root / CONFIG_DIR / f"{stage}.json").read_text(encoding="utf-8")
        config = json.loads(text)
    except (OSError, ValueError):
        return None
    sources = _read_json(root / SOURCES_DIR / f"{stage}.json")
    if not isinstance(config, dict) or not isinstance(sources, dict):
        return None
    specs = sources.get("specs")
    if not isinstance(specs, list) or not all(isinstance(p, str) for p in specs):
        return None
    from llmops.compiler.emit.sources import sources_digest, text_digest

    if text_digest(text) != sources.get("config"):
        return None
    from llmops.compiler.parse import PROJECT_FILE, parse_files

    try:
        files = parse_files(root, specs, project=PROJECT_FILE)
    except LlmopsError:
        return None
    if files is None or sources_digest(files) != sources.get("digest"):
        return None
    return config


def _compiled_config(root: Path, stage_name: str) -> dict[str, Any]:
    """Compile the whole project: the exact check, and the only way to reach deploy/monitor."""
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.emit.dvc import stage_config_text
    from llmops.compiler.parse import load_project

    _, graph = plan_graph(load_project(root))
    names = [s.name for s in graph.order]
    if stage_name not in names:
        hint = suggest(stage_name, names)
        raise UsageError(
            f"no stage '{stage_name}'" + (f"; {hint}" if hint else f"; stages: {', '.join(names)}")
        )
    stage = graph.stage(stage_name)
    if stage.in_pipeline:
        on_disk = root / stage.config_path
        if not on_disk.is_file() or on_disk.read_text(encoding="utf-8") != stage_config_text(stage):
            raise UsageError(f"{stage.config_path} {_STALE}")
    return stage.params()


def check_deploy_allowed(project: str, deployment: str) -> None:
    """A deployment acts only for a clean checkout of a commit that reached the main branch
    through an approved pull request whose gates passed (`llmops enforce`); else exit 1.

    Approvals are verified as `llmops enforce` verifies them: through the GitHub API inside
    Actions with GITHUB_TOKEN; locally only with LLMOPS_TRUST_TRAILERS=1, which trusts the
    commit's trailers (there is no flag: `llmops run` is what `dvc repro` and CI jobs call)."""
    from llmops.cli.enforcement import refusal_message, verdict_for
    from llmops.gitrepo import open_repo

    stage = stage_name("deploy", deployment)

    repo, prefix = open_repo(project, "the audit is read from git history")
    changed = sorted(
        {d.a_path or d.b_path for d in repo.index.diff(None)}
        | {d.a_path or d.b_path for d in repo.index.diff("HEAD")}
    )
    changed = [p for p in changed if p.startswith(prefix)]
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise CheckFailed(
            f"refused: {stage} runs only from a clean checkout of a merged commit; "
            f"uncommitted changes: {shown}"
        )
    verdict = verdict_for(project, "HEAD", None, deployment, None)
    if not verdict.allowed:
        raise CheckFailed(refusal_message(verdict))
    pr = f"pull request #{verdict.pr}" if verdict.pr else "its pull request"
    approved = ", ".join(verdict.approvals) or "nobody (none needed)"
    approved += f" ({verdict.approval_source})"
    gates = ", ".join(verdict.policies) or "none"
    print(f"{stage}: {verdict.commit[:10]} arrived through {pr}, approved by {approved}")
    print(f"{stage}: gates passed at that commit: {gates}")
