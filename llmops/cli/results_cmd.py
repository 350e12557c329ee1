"""`llmops results`: hand stage results between CI jobs through the DVC remote.

    pull STAGE      before a stage's job runs it: the results of the stages above (never rerun)
    push STAGE...   after: record it for the jobs below (`--all`: every stage whose dvc.lock
                    entry is this checkout's, as after a local `dvc repro`, so CI reuses them)
    collect         dvc.lock, metrics, plots and reports of the whole pipeline from the remote
    diff            the result files here against the commit checked out (exit 1 if they differ)

Exit codes: 0 done, 1 results missing or different, 2 bad usage (no remote, unknown stage).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmops.errors import CheckFailed


def cmd_results(args: argparse.Namespace) -> int:
    from llmops.results.workspace import Workspace

    root = Path(args.project).resolve()
    workspace = Workspace(root)
    action = args.results_command
    if action == "pull":
        restored = workspace.pull(args.stage)
        if restored:
            print(f"{args.stage}: its results for these inputs are in the remote; restored, not rerun")
        else:
            print(f"{args.stage}: inputs restored from the remote; ready to run")
        return 0
    if action == "push":
        return _push(workspace, args)
    if action == "collect":
        found = workspace.collect()
        print(f"collected the results of {len(found.records)} of {len(workspace.stages)} stages")
        if found.missing:
            raise CheckFailed(
                "stages without results in the remote for these inputs (their jobs failed, were "
                "skipped or did not push):\n  - " + "\n  - ".join(found.missing.values())
            )
        return 0
    return _diff(workspace, args)


def _push(workspace, args: argparse.Namespace) -> int:
    from llmops.results.pipeline import LOCK_FILE, read_lock

    names = list(args.stages)
    if args.all:
        if names:
            from llmops.errors import UsageError

            raise UsageError("give stage names or --all, not both")
        lock = read_lock((workspace.root / LOCK_FILE).read_text(encoding="utf-8"))
        names = [s.name for s in workspace.stages if s.name in lock]
    if not names:
        from llmops.errors import UsageError

        raise UsageError("name the stages to push, or --all")
    failed = []
    for name in names:
        try:
            key = workspace.push(name)
        except CheckFailed as exc:
            if not args.all:
                raise
            failed.append(str(exc).splitlines()[0])
            continue
        print(f"{name}: results recorded in remote {workspace.store.where!r} ({key[:12]})")
    if failed:
        raise CheckFailed("not pushed:\n  - " + "\n  - ".join(failed))
    return 0


def _diff(workspace, args: argparse.Namespace) -> int:
    from llmops.atomic import write_bytes
    from llmops.results.carried import carried_difference

    changed, patch = carried_difference(workspace.root, workspace.stages)
    if args.patch:
        write_bytes(Path(args.patch), patch)
    if not changed:
        print("the commit carries exactly these results")
        return 0
    shown = "\n  - ".join(changed[:20]) + (f"\n  - and {len(changed) - 20} more" if len(changed) > 20 else "")
    raise CheckFailed(
        "the commit does not carry these results (commit them, or let CI's commit job do it):\n  - " + shown
    )
