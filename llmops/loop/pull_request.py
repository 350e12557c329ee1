"""`llmops loop open-pr DEPLOYMENT`: the monitor job proposes the new feedback as a pull request.

1. An open pull request from `<branch_prefix>-<deployment>-*` into the main branch already
   proposes feedback: wait for it (idempotent; a schedule never piles up pull requests).
2. Export the feedback (`llmops.loop.export`): at least `min_new_feedback` new rows, or any new
   row at all when the monitoring run crossed a Policy threshold and `on_threshold` is set.
3. `llmops compile`, so dvc.yaml and the stage configs read the new source (CI's
   `compile --check` would refuse the pull request otherwise).
4. Commit exactly what steps 2-3 changed on `<branch_prefix>-<deployment>-<YYYYMMDD>` (a
   `-2`, `-3`... suffix when that branch exists), as the Actions bot; push; open the pull
   request with the counts, the monitor's figures and the export's provenance in its body.

Nothing here trains or merges: review, CI and approval decide, as for any change.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import StageFailed, UsageError
from llmops.loop import gitops
from llmops.loop.api import PullRequests
from llmops.loop.export import ExportSummary, run_export, without_token
from llmops.loop.target import LoopTarget, crossed_checks, read_monitor_metrics

MAX_BODY = 60_000  # GitHub refuses pull request bodies over 65,536 characters
MAX_BRANCH_TRIES = 20
# monitor figures the body shows, in order: (dotted key, label)
FIGURES = (
    ("requests.count", "requests"),
    ("requests.error_rate", "error rate"),
    ("feedback.count", "feedback"),
    ("feedback.rating_mean", "mean rating"),
    ("feedback.thumbs_down_rate", "thumbs-down rate"),
    ("feedback.corrections", "corrections"),
    ("drift.value", "input drift"),
)


@dataclass(frozen=True)
class Outcome:
    action: str  # opened | waiting | nothing
    message: str
    url: str | None = None
    branch: str | None = None


def open_pr(
    root: Path,
    target: LoopTarget,
    *,
    repo: str,
    token: str,
    remote: str = "origin",
    today: dt.date | None = None,
    export: Callable[[Path, LoopTarget, int], ExportSummary] = run_export,
) -> Outcome:
    loop = target.loop
    if loop is None:
        raise UsageError(
            f"deployment {target.deployment} has no monitoring.loop; add one to its spec "
            "(min_new_feedback, license, ...) and run `llmops compile`"
        )
    api = PullRequests(token)
    prefix = f"{loop.branch_prefix}-{target.deployment}-"
    waiting = [p for p in api.open_pulls(repo, target.main_branch) if _is_loop_pull(p, repo, prefix)]
    if waiting:
        pull = min(waiting, key=lambda p: int(p.get("number", 0)))
        return Outcome(
            "waiting",
            f"pull request #{pull.get('number')} ({pull.get('html_url', '')}) already proposes feedback "
            f"for {target.deployment}: merge or close it, and the next run proposes what came since",
            pull.get("html_url"),
        )
    metrics = read_monitor_metrics(root, target)
    crossed = crossed_checks(metrics) if loop.on_threshold else []
    needed = 1 if crossed else loop.min_new_feedback
    before = gitops.snapshot(root)
    summary = export(root, target, needed)
    if summary.new_rows < needed:
        why = f"{summary.new_rows} new row(s), fewer than the {needed} needed"
        return Outcome("nothing", f"no pull request for {target.deployment}: {why}")
    _compile(root)
    paths = gitops.changed_since(root, before)
    if not paths:
        return Outcome("nothing", f"no pull request for {target.deployment}: the export changed no file")
    branch = _free_branch(
        root, remote, prefix + (today or dt.datetime.now(dt.UTC).date()).strftime("%Y%m%d"), token
    )
    title = _title(target, summary, crossed)
    gitops.commit_on_branch(
        root, branch, paths, f"{title}\n\nOpened by `llmops loop open-pr` from the monitor job."
    )
    gitops.push(root, remote, branch, token)
    pull = api.create_pull(
        repo,
        title=title,
        head=branch,
        base=target.main_branch,
        body=body(target, summary, metrics, paths, root),
    )
    url = pull.get("html_url")
    return Outcome("opened", f"opened pull request #{pull['number']} from {branch}: {url}", url, branch)


def _is_loop_pull(pull: dict[str, Any], repo: str, prefix: str) -> bool:
    """Opened by this loop: from `<prefix><YYYYMMDD>[-n]` of this repository (a fork's branch of
    the same name must not stall the loop; `faq-` must not match deployment `faq-v2`'s)."""
    head = pull.get("head") or {}
    ref = str(head.get("ref", ""))
    same_repo = (head.get("repo") or {}).get("full_name") == repo
    return same_repo and re.fullmatch(re.escape(prefix) + r"[0-9]{8}(-[0-9]+)?", ref) is not None


def _compile(root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmops.cli", "compile"],
        cwd=root,
        env=without_token(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise StageFailed(f"llmops compile after the export failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def _free_branch(root: Path, remote: str, base: str, token: str) -> str:
    """`base`, or `base-2`, `base-3`...: the first the remote does not have (a pull request of
    the same day may have been closed, its branch left behind)."""
    for n in range(1, MAX_BRANCH_TRIES + 1):
        branch = base if n == 1 else f"{base}-{n}"
        if not gitops.remote_has_branch(root, remote, branch, token):
            return branch
    raise StageFailed(f"branches {base} to {base}-{MAX_BRANCH_TRIES} all exist on {remote}; delete old ones")


def _title(target: LoopTarget, summary: ExportSummary, crossed: list[dict[str, Any]]) -> str:
    why = " (monitoring thresholds crossed)" if crossed else ""
    return f"Feedback from {target.deployment}: {summary.new_rows} new row(s) for {target.dataset}{why}"


def body(
    target: LoopTarget,
    summary: ExportSummary,
    metrics: dict[str, Any] | None,
    paths: list[str],
    root: Path,
) -> str:
    """The pull request's description: what is added, why now, and where it came from."""
    loop = target.loop
    lines = [
        f"The scheduled monitor job of **{target.deployment}** exported the feedback its users gave "
        f"and proposes it as training data. Review the rows (they are what users wrote), then let CI "
        f"retrain and the Policy gates decide, as for any change.",
        "",
        "### What is added",
        "",
        f"- new rows: **{summary.new_rows}** (threshold `min_new_feedback: {loop.min_new_feedback}`)",
    ]
    for key in ("sft_rows", "pairs", "unpaired"):
        if key in summary.counts:
            lines.append(f"- {key.replace('_', ' ')}: {summary.counts[key]}")
    lines.append(
        f"- dataset: `{target.dataset}`"
        + (f", preference dataset: `{loop.preference_dataset}`" if loop.preference_dataset else "")
    )
    lines.append(f"- license: `{loop.license}` (recorded in the sources' provenance)")
    warnings = [line for line in summary.output.splitlines() if line.lower().startswith("warning")]
    if warnings:
        lines += ["", "**Warnings from the export:**", ""] + [f"- {w[:1000]}" for w in warnings[:20]]
    lines += ["", "Files:", ""] + [f"- `{p}`" for p in paths]
    crossed = crossed_checks(metrics)
    lines += ["", "### Monitoring", ""]
    if metrics is None:
        lines.append("The monitor wrote no figures in this run.")
    else:
        window = metrics.get("window") or {}
        lines.append(
            f"Window: {window.get('start', '?')} to {window.get('end', '?')} ({window.get('days', '?')} days)"
        )
        lines += ["", "| figure | value |", "| --- | --- |"]
        for key, label in FIGURES:
            value = _lookup(metrics, key)
            if value is not None:
                lines.append(f"| {label} | {value:.4g} |")
        if crossed:
            lines += ["", "Thresholds not met:", ""]
            lines += [
                f"- policy `{c.get('policy')}`: {c.get('threshold')} {c.get('limit')} "
                f"({c.get('figure')} = {c.get('value')}, {c.get('status')})"
                for c in crossed
            ]
    lines += ["", "### Provenance", ""]
    for path in paths:
        if path.endswith(".provenance.json"):
            shown = _provenance(root / path)
            lines += [f"`{path}`:", "", _fence(shown) + "json", shown, _fence(shown), ""]
    output = summary.output[-4000:]
    lines += [
        "<details><summary>Export output</summary>",
        "",
        _fence(output),
        output,
        _fence(output),
        "</details>",
    ]
    text = "\n".join(lines)
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 20] + "\n\n(truncated)"


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in `text` (export output quotes feedback, which
    anyone can write), so the text cannot close the block and inject Markdown into the body."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _provenance(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "{}"
    keep = {
        k: data[k]
        for k in (
            "deployment",
            "database",
            "exported_at",
            "counts",
            "source_provenance",
            "git_commit",
            "sha256",
        )
        if k in data
    }
    return json.dumps(keep or data, indent=1, sort_keys=True)[:4000]


def _lookup(metrics: dict[str, Any], dotted: str) -> float | None:
    value: Any = metrics
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
