"""`llmops feedback export`: corrections and well-rated answers back into training data.

Exit codes: 0 written; 1 nothing qualified (nothing is written, so an automation opens no empty
pull request); 2 an unknown deployment or dataset, a bad option, or a store it cannot reach.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmops.errors import UsageError


def cmd_feedback(args: argparse.Namespace) -> int:
    if args.feedback_command == "export":
        return export_command(args)
    raise UsageError(f"unknown feedback action {args.feedback_command!r}")  # argparse prevents this


def export_command(args: argparse.Namespace) -> int:
    from llmops.compiler.compile import plan_graph
    from llmops.compiler.diagnose import suggest
    from llmops.compiler.parse import load_project
    from llmops.feedback.export import export, target_of
    from llmops.feedback.spec_edit import add_source, source_yaml
    from llmops.feedback_db.store import resolve_url, safe_url

    root = Path(args.project).resolve()
    index, _ = plan_graph(load_project(root))
    target = target_of(index, args.deployment)
    if not 1 <= args.min_rating <= 5:
        raise UsageError(f"--min-rating {args.min_rating}: ratings run from 1 to 5")
    dataset_file = None
    if args.add_to:
        names = [sf.name for sf in index.all("Dataset")]
        if args.add_to not in names:
            hint = suggest(args.add_to, names) or f"datasets: {', '.join(names) or 'none'}"
            raise UsageError(f"--add-to: no dataset '{args.add_to}'; {hint}")
        dataset_file = root / index.get("Dataset", args.add_to).path
    out = Path(args.out) if args.out else Path("data") / "feedback" / f"{target.deployment}.jsonl"
    out = (out if out.is_absolute() else root / out).resolve()
    if out.suffix != ".jsonl":
        raise UsageError(f"--out {args.out}: the export is JSON Lines; give a path ending in .jsonl")
    if dataset_file is not None and not out.is_relative_to(root):
        raise UsageError(f"--out {args.out}: a Dataset source must be inside the project ({root})")
    url = resolve_url(root, target.deployment, target.feedback_db)
    done = export(
        root,
        target,
        url=url,
        database=safe_url(url),
        out=out,
        min_rating=args.min_rating,
        since=args.since,
        license=args.license or "",
    )
    counts = done.selection.counts
    shown = out.relative_to(root).as_posix() if out.is_relative_to(root) else str(out)
    sidecar = done.provenance_path
    print(
        f"wrote {shown}: {counts['selected']} example(s) from {counts['feedback_rows']} feedback row(s) "
        f"({counts['selected_correction']} corrected, "
        f"{counts['selected_rating']} rated >= {args.min_rating}, "
        f"{counts['selected_thumbs-up']} thumbs up; left out: {counts['negative']} disliked, "
        f"{counts['no-signal']} without a signal, {counts['duplicate']} duplicate, {counts['empty']} empty)"
    )
    print(f"provenance: {sidecar.relative_to(root).as_posix() if out.is_relative_to(root) else sidecar}")
    if not args.license:
        print(
            "note: the source has no license; pass --license with the terms your users' feedback is under "
            "(a Policy review checks data licenses)",
            file=sys.stderr,
        )
    if dataset_file is None:
        if out.is_relative_to(root):
            where = f" (e.g. of {target.dataset})" if target.dataset else ""
            print(f"\nadd this to the `sources:` of a Dataset spec{where}, or rerun with --add-to DATASET:\n")
            print(source_yaml(done.source_entry(root)), end="")
        return 0
    action = add_source(dataset_file, done.source_entry(root))
    print(
        f"{action} the source in {dataset_file.relative_to(root).as_posix()}; `dvc repro` takes it from here"
    )
    return 0
