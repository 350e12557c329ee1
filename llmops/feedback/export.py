"""`llmops feedback export`: a deployment's feedback as a Dataset source, with its provenance.

The data file is JSONL with one example per line: the deployed model's prompt variables (the
columns its Dataset has, e.g. `text`), the completion column (e.g. `answer`) holding the
corrected or liked answer, and `feedback` / `response_id` saying where it came from. It depends
only on the store's content and the options, so exporting twice gives the same bytes. A sidecar
`<name>.provenance.json` records the rest: deployment, database (no credentials), export time,
filters, counts, git commit, llmops version and the file's sha256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import UsageError
from llmops.feedback.select import Selection, select


@dataclass
class Target:
    """What the deployed model was trained on: the columns an exported example must have."""

    deployment: str
    feedback_db: str
    variables: tuple[str, ...] = ("text",)
    completion: str = "answer"
    prompt: dict[str, Any] | None = None
    dataset: str | None = None  # the FineTune's dataset, the natural place to add the export


SOURCE_PRIORITY = 10  # above the default 0: with `keep: preferred` feedback beats older rows


def source_entry(root: Path, path: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """The Dataset `sources:` entry that reads an exported file (its `columns`, `priority` 10)."""
    return {
        "path": path.relative_to(root).as_posix(),
        "fields": {column: column for column in provenance["columns"]},
        "priority": SOURCE_PRIORITY,
        "provenance": dict(provenance["source_provenance"]),
    }


def target_of(index: Any, deployment: str) -> Target:
    from llmops.compiler.diagnose import suggest

    names = [sf.name for sf in index.all("Deployment")]
    if deployment not in names:
        hint = suggest(deployment, names)
        known = f"deployments: {', '.join(names)}" if names else "the project has no Deployment specs"
        raise UsageError(f"no deployment '{deployment}'; " + (hint or known))
    spec = index.get("Deployment", deployment).spec
    target = Target(deployment, spec.monitoring.feedback_db)
    if spec.model.finetune:
        from llmops.compiler.stages.model import result_fields as _result_fields

        tuned = index.get("FineTune", spec.model.finetune).spec
        prompt = index.get("Prompt", tuned.prompt).spec
        target.variables = tuple(prompt.variables) or ("text",)
        target.completion = prompt.completion or "answer"
        target.prompt = _result_fields(prompt)
        target.dataset = tuned.dataset
    return target


def read_rows(url: str, deployment: str, since: float | None) -> list[dict[str, Any]]:
    """Feedback on this deployment's successful responses, joined with the request."""
    import sqlalchemy as sa

    from llmops.feedback_db import store

    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_file():
            return []
    engine = store.connect(url)
    req, fb = store.requests, store.feedback
    query = (
        sa.select(
            req.c.id.label("response_id"),
            req.c.created_at.label("requested_at"),
            req.c.request_text,
            req.c.response_text,
            fb.c.id.label("feedback_id"),
            fb.c.created_at,
            fb.c.rating,
            fb.c.thumbs,
            fb.c.correction,
        )
        .select_from(fb.join(req, fb.c.response_id == req.c.id))
        .where(req.c.deployment == deployment, req.c.status_code < 400)
        .order_by(fb.c.created_at, fb.c.id)
    )
    if since is not None:
        query = query.where(fb.c.created_at >= since)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()


def parse_since(value: str | None) -> float | None:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r}: give a date (2026-11-01) or an ISO time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def untemplater(root: Path, target: Target) -> Any:
    """`variables_of(request_text)`: the deployed Prompt's variables, or None when it does not fit."""
    from llmops.prompting.untemplate import Untemplater

    untemplate = Untemplater.from_prompt(target.prompt, root) if target.prompt else None
    return untemplate.variables_of if untemplate else (lambda _text: None)


def select_examples(root: Path, target: Target, rows: list[dict[str, Any]], min_rating: int) -> Selection:
    return select(
        rows, min_rating=min_rating, variables_of=untemplater(root, target), variable_names=target.variables
    )


def nothing_qualifies(target: Target, counts: Any, min_rating: int, since: str | None) -> str:
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
    filters = f"min rating {min_rating}" + (f", since {since}" if since else "")
    return (
        f"no feedback on deployment {target.deployment} qualifies for training data "
        f"({filters}; {shown or 'no feedback rows'}); nothing written"
    )


def sft_text(target: Target, selection: Selection) -> str:
    lines = []
    for example in selection.examples:
        record = {**example.variables, target.completion: example.answer}
        record["feedback"] = example.kind
        record["response_id"] = example.response_id
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
    return "\n".join(lines) + "\n"


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def sidecar_of(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".provenance.json")


def provenance_of(
    root: Path,
    target: Target,
    *,
    database: str,
    out: Path,
    data: str,
    filters: dict[str, Any],
    counts: dict[str, Any],
    columns: list[str],
    rows: int,
    newest: float,
    license: str,
) -> dict[str, Any]:
    """The sidecar: everything about the export that is not in the file (which stays reproducible)."""
    collected = dt.datetime.fromtimestamp(newest, dt.UTC).strftime("%Y-%m-%d")
    return {
        "deployment": target.deployment,
        "database": database,
        "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "filters": filters,
        "counts": dict(sorted(counts.items())),
        "columns": columns,
        "prompt": target.prompt["name"] if target.prompt else None,
        "git_commit": git_commit(root),
        "llmops_version": _version(),
        "file": out.relative_to(root).as_posix() if out.is_relative_to(root) else str(out),
        "sha256": hashlib.sha256(data.encode("utf-8")).hexdigest(),
        "rows": rows,
        "source_provenance": {
            "origin": f"human feedback on deployment {target.deployment} (llmops feedback export)",
            "license": license,
            "collected_at": collected,
        },
    }


def git_commit(root: Path) -> str | None:
    """HEAD of the project's repository, or None outside one (argv list: nothing reaches a shell)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _version() -> str:
    from llmops import __version__

    return __version__
