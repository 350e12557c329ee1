"""`llmops feedback export`: corrections and well-rated answers back into training data.

Exit codes: 0 written, or (`--min-new N`) fewer than N new rows so nothing written; 1 nothing
qualified (nothing is written, so an automation opens no empty pull request); 2 an unknown
deployment or dataset, a bad option, or a store it cannot reach. With `--preferences` it fails
only when no supervised example, no pair and no labeled answer qualified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from llmops.feedback.plan import Plan


def cmd_feedback(args: argparse.Namespace) -> int:
    if args.feedback_command == "export":
        return export_command(args)
    raise UsageError(f"unknown feedback action {args.feedback_command!r}")  # argparse prevents this


def export_command(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.parse import load_project
    from llmops.feedback.export import nothing_qualifies, target_of
    from llmops.feedback.plan import plan_export
    from llmops.feedback.spec_edit import add_source, source_yaml
    from llmops.feedback_db.store import resolve_url, safe_url

    root = Path(args.project).resolve()
    index, _ = plan_graph(load_project(root))
    target = target_of(index, args.deployment)
    if not 1 <= args.min_rating <= 5:
        raise UsageError(f"--min-rating {args.min_rating}: ratings run from 1 to 5")
    if args.min_new is not None and args.min_new < 1:
        raise UsageError(f"--min-new {args.min_new}: give a number of rows, 1 or more")
    with_preferences = bool(args.preferences or args.add_preferences_to)
    columns = (*target.variables, target.completion)
    dataset_file = _dataset_file(root, index, args.add_to, "--add-to", columns)
    preference_file = _dataset_file(root, index, args.add_preferences_to, "--add-preferences-to", columns)
    out = Path(args.out) if args.out else Path("data") / "feedback" / f"{target.deployment}.jsonl"
    out = (out if out.is_absolute() else root / out).resolve()
    if out.suffix != ".jsonl":
        raise UsageError(f"--out {args.out}: the export is JSON Lines; give a path ending in .jsonl")
    if (dataset_file or preference_file) is not None and not out.is_relative_to(root):
        raise UsageError(f"--out {args.out}: a Dataset source must be inside the project ({root})")
    url = resolve_url(root, target.deployment, target.feedback_db)
    plan = plan_export(
        root,
        target,
        url=url,
        database=safe_url(url),
        out=out,
        min_rating=args.min_rating,
        since=args.since,
        license=args.license or "",
        with_preferences=with_preferences,
    )
    say = _Say(args.json)
    summary = _summary(plan)
    if not plan.files:
        message = nothing_qualifies(target, plan.selection.counts, args.min_rating, args.since)
        if args.min_new is None:
            raise CheckFailed(message)
        say(message)
    if args.min_new is not None and plan.new_rows < args.min_new:
        say(f"only {plan.new_rows} new rows (< {args.min_new}); nothing written")
        say.done(summary)
        return 0
    written = plan.write()
    summary["files"] = [_shown(root, p) for p in written]
    _report(plan, args, root, say)
    if not args.license:
        print(
            "note: the source has no license; pass --license with the terms your users' feedback is under "
            "(a Policy review checks data licenses)",
            file=sys.stderr,
        )
    changed = []
    for kind, spec_file, option in (
        ("sft", dataset_file, "--add-to"),
        ("pairs", preference_file, "--add-preferences-to"),
    ):
        planned = plan.file(kind)
        if spec_file is None:
            continue
        if planned is None:
            say(
                f"{option}: no {'examples' if kind == 'sft' else 'pairs'} qualified; "
                f"{_shown(root, spec_file)} left as it is"
            )
            continue
        action = add_source(spec_file, planned.source_entry(root))
        say(
            f"{action} the source {_shown(root, planned.path)} in {_shown(root, spec_file)}; "
            "`llmops compile`, then `dvc repro` takes it from here"
        )
        changed.append(args.add_to if kind == "sft" else args.add_preferences_to)
        if kind == "sft":
            _warn_keep_first(index, args.add_to, target.completion, say)
    if dataset_file is None and preference_file is None and not args.json:
        planned = plan.file("sft") or plan.files[0]
        if planned.path.is_relative_to(root):
            where = f" (e.g. of {target.dataset})" if target.dataset and planned.kind == "sft" else ""
            say(f"\nadd this to the `sources:` of a Dataset spec{where}, or rerun with --add-to DATASET:\n")
            say(source_yaml(planned.source_entry(root)).rstrip("\n"))
    summary["datasets_changed"] = changed
    say(f"exported {plan.new_rows} new rows")
    say.done(summary)
    return 0


class _Say:
    """Messages to stdout, or to stderr when stdout carries the `--json` summary."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode

    def __call__(self, text: str) -> None:
        print(text, file=sys.stderr if self.json_mode else sys.stdout)

    def done(self, summary: dict[str, object]) -> None:
        if self.json_mode:
            print(json.dumps(summary, sort_keys=False))


def _summary(plan: Plan) -> dict[str, object]:
    rows = {f.kind: f.rows for f in plan.files}
    return {
        "sft_rows": rows.get("sft", 0),
        "pairs": rows.get("pairs", 0),
        "unpaired": rows.get("unpaired", 0),
        "new_rows": plan.new_rows,
        "files": [],
        "datasets_changed": [],
    }


def _report(plan: Plan, args: argparse.Namespace, root: Path, say: _Say) -> None:
    counts = plan.selection.counts
    sft = plan.file("sft")
    if sft is not None:
        say(
            f"wrote {_shown(root, sft.path)}: {counts['selected']} example(s) from {counts['feedback_rows']} "
            f"feedback row(s) ({counts['selected_correction']} corrected, "
            f"{counts['selected_rating']} rated >= {args.min_rating}, "
            f"{counts['selected_thumbs-up']} thumbs up; left out: {counts['negative']} disliked, "
            f"{counts['no-signal']} without a signal, {counts['duplicate']} duplicate, "
            f"{counts['empty']} empty)"
        )
    else:
        say("no supervised example qualified; preference data only")
    if plan.prefs is not None:
        c = plan.prefs.counts
        for kind, what in (
            (
                "pairs",
                f"{c['pairs']} pair(s) ({c['pairs_correction']} from corrections, {c['pairs_rated']} rated)",
            ),
            (
                "unpaired",
                f"{c['unpaired']} labeled answer(s) ({c['unpaired_good']} good, {c['unpaired_bad']} bad)",
            ),
        ):
            planned = plan.file(kind)
            say(f"wrote {_shown(root, planned.path)}: {what}" if planned else f"no {kind} rows qualified")
    for planned in plan.files:
        say(f"provenance: {_shown(root, planned.sidecar)}")


def _warn_keep_first(index: Any, dataset: str, completion: str, say: _Say) -> None:
    """A correction repeats its question: a dedup that keeps the first record drops it."""
    from llmops.compiler.kinds.dataset import DedupExact, DedupNear

    spec = index.get("Dataset", dataset).spec
    for position, step in enumerate(spec.cleaning, start=1):
        if isinstance(step, DedupExact | DedupNear) and step.keep == "first":
            columns = step.columns if isinstance(step, DedupExact) else [step.column]
            columns = [c or spec.text_column for c in columns] or [spec.text_column]
            if completion in columns:
                continue
            say(
                f"warning: {dataset}'s cleaning step {position} ({step.step}) keeps the first of duplicate "
                f"records: corrections of questions already in its earlier sources will be dropped; set "
                f"`keep: preferred` on it (the feedback source has priority 10)"
            )


def _dataset_file(
    root: Path, index: Any, name: str | None, option: str, columns: tuple[str, ...]
) -> Path | None:
    """The spec file of the Dataset an export is added to; its text column must be one the export
    writes, or its data stage would fail on every exported row."""
    from llmops.compiler.diagnose import suggest

    if not name:
        return None
    names = [sf.name for sf in index.all("Dataset")]
    if name not in names:
        hint = suggest(name, names) or f"datasets: {', '.join(names) or 'none'}"
        raise UsageError(f"{option}: no dataset '{name}'; {hint}")
    found = index.get("Dataset", name)
    if found.spec.text_column not in columns:
        raise UsageError(
            f"{option} {name}: its text_column '{found.spec.text_column}' is not a column the export "
            f"writes ({', '.join(columns)}, from the deployed model's Prompt); add to a Dataset whose "
            "text_column is one of them"
        )
    return root / found.path


def _shown(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
