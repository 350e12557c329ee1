"""What `llmops loop` needs to know about one Deployment, read once from the specs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import UsageError


@dataclass(frozen=True)
class LoopTarget:
    deployment: str
    spec_path: str  # the Deployment's spec file, relative to the root (annotations point at it)
    spec_line: int  # the line of its `monitoring:` block
    metrics_path: str  # the monitor stage's metrics file, relative to the root
    main_branch: str
    loop: Any | None  # compiler.kinds.deployment.Loop
    dataset: str | None  # loop.dataset, or the served FineTune's dataset
    webhook_env: str | None


def load_target(root: Path, deployment: str) -> LoopTarget:
    """The Deployment's loop settings; a usage error (exit 2) names what is missing."""
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.parse import load_project
    from llmops.compiler.resolve import resolve

    parsed = load_project(root)
    index = resolve(parsed)
    names = [sf.name for sf in index.all("Deployment")]
    if deployment not in names:
        hint = suggest(deployment, names) or f"deployments: {', '.join(names) or 'none'}"
        raise UsageError(f"no deployment '{deployment}'; {hint}")
    sf = index.get("Deployment", deployment)
    spec = sf.spec
    loop = spec.monitoring.loop
    dataset = None
    if loop is not None:
        dataset = loop.dataset
        if dataset is None and spec.model.finetune:
            dataset = index.get("FineTune", spec.model.finetune).spec.dataset
    project = parsed.project
    return LoopTarget(
        deployment=deployment,
        spec_path=_relative(Path(sf.path), root),
        spec_line=sf.doc.position(("monitoring",), key=True)[0],
        metrics_path=f"{project.paths.metrics}/monitor-{deployment}.json",
        main_branch=project.governance.main_branch,
        loop=loop,
        dataset=dataset,
        webhook_env=spec.monitoring.alert_webhook_env,
    )


def _relative(path: Path, root: Path) -> str:
    return (path.relative_to(root) if path.is_absolute() and path.is_relative_to(root) else path).as_posix()


def read_monitor_metrics(root: Path, target: LoopTarget) -> dict[str, Any] | None:
    """The monitor stage's metrics file as this run wrote it, or None when it did not get that far."""
    path = root / target.metrics_path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def crossed_checks(metrics: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The Policy thresholds the run did not meet (crossed, or no data to check them against)."""
    checks = (metrics or {}).get("checks") or []
    return [c for c in checks if isinstance(c, dict) and c.get("status") != "ok"]
