"""The monitor stage: how a deployment is doing, from what its gateway recorded.

Over the last `window_days` days it computes traffic, error rate and latency percentiles, the
human feedback (rating mean, thumbs-down rate, corrections), and the drift of live inputs from
the inputs the model was trained on (length, vocabulary, and embeddings when the model is on
disk). It writes `metrics/monitor-<deployment>.json` and CSV plots under
`plots/monitor-<deployment>/`, then fails (exit 1) when a Policy's monitoring threshold is
crossed, or has no data to be checked against, listing every such threshold.

For a deployment whose prompt retrieves, a `retrieval` section adds the empty-retrieval rate,
retrieval latency percentiles and the passages most cited by badly rated answers
(`runners/monitor/retrieval.py`), plus `retrieval.csv` per day; the Policy's
`max_empty_retrieval_rate` and `max_p95_retrieval_ms` are checked against it.

An `abuse` section (`runners/monitor/abuse.py`) has the shares of requests the gateway flagged
prompt_injection, jailbreak, pii and rate_limited, the keys that sent PII repeatedly and the keys
with an anomalous request rate; the Policy's `max_injection_rate`, `max_jailbreak_rate`,
`max_pii_prompt_rate`, `max_rate_limited_rate`, `max_rate_anomaly_keys` and
`max_repeated_pii_keys` are checked against it.

`drift.value` is the one figure `max_drift` compares against: the largest of `length_ks`,
`vocab_js` and `embedding_mmd` that could be computed, each 0 (same distribution) .. 1.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.errors import CheckFailed
from llmops.runners.monitor import checks as checks_mod
from llmops.runners.monitor.abuse import abuse_figures
from llmops.runners.monitor.embed import embedding_drift
from llmops.runners.monitor.quality import daily_series, feedback_figures, latency_histogram, request_figures
from llmops.runners.monitor.retrieval import daily_retrieval, is_rag, retrieval_figures
from llmops.runners.monitor.stats import combined_drift, text_drift
from llmops.runners.monitor.window import make_window, read_window

if TYPE_CHECKING:
    from llmops.compiler.kinds.prompt import Prompt
    from llmops.compiler.stages.monitor import MonitorConfig, MonitorInputs, Reference

DIRECTIONS = {
    "requests.count": "none",
    "requests.errors": "lower",
    "requests.error_rate": "lower",
    "feedback.count": "none",
    "feedback.rating_mean": "higher",
    "feedback.rating_n": "none",
    "feedback.thumbs_n": "none",
    "feedback.thumbs_down": "lower",
    "feedback.thumbs_down_rate": "lower",
    "feedback.corrections": "none",
    "drift.value": "lower",
    "drift.length_ks": "lower",
    "drift.vocab_js": "lower",
    "drift.oov_rate": "lower",
    "drift.embedding_mmd": "lower",
    "drift.reference_n": "none",
    "drift.live_n": "none",
    "retrieval.requests": "none",
    "retrieval.empty": "lower",
    "retrieval.empty_retrieval_rate": "lower",
    "retrieval.retrieval_p50_ms": "lower",
    "retrieval.retrieval_p95_ms": "lower",
    "retrieval.retrieval_p99_ms": "lower",
    "retrieval.passages_mean": "none",
    "retrieval.bad_answers": "lower",
    "abuse.requests": "none",
    "abuse.screened": "none",
    "abuse.keys": "none",
    "abuse.injection": "lower",
    "abuse.injection_rate": "lower",
    "abuse.jailbreak": "lower",
    "abuse.jailbreak_rate": "lower",
    "abuse.pii_prompts": "lower",
    "abuse.pii_prompt_rate": "lower",
    "abuse.rate_limited": "lower",
    "abuse.rate_limited_rate": "lower",
    "abuse.repeated_pii_keys": "lower",
    "abuse.rate_anomaly_keys": "lower",
}
RETRIEVAL_THRESHOLDS = frozenset({"max_empty_retrieval_rate", "max_p95_retrieval_ms"})


def run(config: MonitorConfig, root: Path, *, now: float | None = None) -> None:
    from llmops.feedback_db.store import resolve_url  # SQLAlchemy: only when a monitor runs

    inputs = config.inputs
    deployment = inputs.deployment
    window = make_window(time.time() if now is None else now, inputs.window_days)
    url = resolve_url(root, deployment, inputs.feedback_db)
    seen = read_window(url, deployment, window)
    metrics = compute(inputs, root, seen.requests, seen.feedback)
    metrics["abuse"] = abuse_section(config, seen.requests)
    metrics = {
        "deployment": deployment,
        "runner_version": config.runner_version,
        "database": seen.database,
        "window": {
            "days": window.days,
            "start": _iso(window.start),
            "end": _iso(window.end),
        },
        **metrics,
    }
    if not seen.found:
        metrics["no_data"] = f"no feedback database at {seen.database}: no gateway has recorded anything yet"
    elif not seen.requests and not seen.feedback:
        metrics["no_data"] = f"no requests and no feedback in the last {window.days} day(s)"
    found = checks_mod.evaluate(metrics, inputs.thresholds)
    metrics["checks"] = [c.as_dict() for c in found]
    metrics["_directions"] = DIRECTIONS
    _write(config, root, metrics, seen.requests, seen.feedback, window)
    _summary(config.stage, metrics)
    _job_summary(deployment, metrics)
    failed = [c for c in found if c.status != "ok"]
    if failed:
        why = _why_no_drift(metrics)
        lines = [c.message(window.days, why if c.threshold == "max_drift" else "") for c in failed]
        raise CheckFailed(
            f"{config.stage}: {len(failed)} monitoring threshold(s) not met:\n  " + "\n  ".join(lines)
        )


def compute(
    inputs: MonitorInputs, root: Path, requests: list[dict[str, Any]], feedback: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every figure of the metrics file but the bookkeeping (pure but for reading the training
    data and, for embedding drift, the model)."""
    live = live_inputs(requests, inputs.prompt, root)
    drift = drift_figures(inputs, root, live)
    figures = {
        "requests": request_figures(requests),
        "feedback": feedback_figures(feedback),
        "drift": drift,
    }
    if watches_retrieval(inputs, requests):
        figures["retrieval"] = retrieval_figures(requests, feedback)
    return figures


def abuse_section(config: MonitorConfig, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The abuse figures, with the Deployment's own anomaly and repeated-PII settings."""
    settings = config.spec.serving.abuse
    return abuse_figures(
        requests,
        detect=settings.detect,
        z=settings.rate_anomaly_z,
        min_requests=settings.rate_anomaly_min_requests,
        repeated_pii=settings.repeated_pii,
    )


def watches_retrieval(inputs: MonitorInputs, requests: list[dict[str, Any]]) -> bool:
    """Whether the metrics get a `retrieval` section: the deployment's prompt retrieves, a Policy
    sets a retrieval threshold, or the gateway logged retrievals (a prompt changed since)."""
    return (
        bool(getattr(inputs, "retrieval_index", None))
        or any(t.threshold in RETRIEVAL_THRESHOLDS for t in inputs.thresholds)
        or any(is_rag(r) for r in requests)
    )


def live_inputs(requests: list[dict[str, Any]], prompt: Prompt | None, root: Path) -> list[str]:
    """What users asked in successful requests, with the prompt's template taken off where the
    client sent the whole rendered prompt, so they compare like for like with the training data."""
    texts = [r["request_text"] for r in requests if int(r["status_code"]) < 400 and r.get("request_text")]
    if prompt is not None:
        from llmops.prompting.untemplate import Untemplater

        untemplate = Untemplater.from_prompt(prompt.model_dump(mode="json"), root)
        texts = [untemplate.user_text(t) for t in texts]
    return texts


def reference_inputs(reference: Reference | None, root: Path) -> tuple[list[str], str]:
    """(training inputs, why there are none). Each row's prompt variables joined by newlines."""
    if reference is None:
        return [], "the deployed model has no training data this project built (not a FineTune)"
    path = root / reference.path
    if not path.is_file():
        return [], f"training data {reference.path} is not on disk (dvc pull it)"
    columns = reference.columns
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            parts = [str(row[c]) for c in columns if row.get(c) not in (None, "")]
            if parts:
                texts.append("\n".join(parts))
    return texts, "" if texts else f"training data {reference.path} has no rows"


def drift_figures(inputs: MonitorInputs, root: Path, live: list[str]) -> dict[str, Any]:
    reference, why = reference_inputs(inputs.reference, root)
    if not live:
        why = why or "no successful requests with text in the window"
    out: dict[str, Any] = {"value": None}
    if why:
        out["skipped"] = why
        out["embedding"] = {"status": "skipped", "reason": why}
        return out
    out.update(text_drift(reference, live))
    embedding = embedding_drift(inputs.model, root, reference, live)
    out["embedding"] = embedding
    out["embedding_mmd"] = embedding.get("mmd")
    out["value"] = combined_drift(
        {"length_ks": out["length_ks"], "vocab_js": out["vocab_js"], "embedding_mmd": out["embedding_mmd"]}
    )
    return out


def _why_no_drift(metrics: dict[str, Any]) -> str:
    reason = metrics["drift"].get("skipped")
    return f"no drift figure ({reason})" if reason else ""


def _write(
    config: MonitorConfig,
    root: Path,
    metrics: dict[str, Any],
    requests: list[dict[str, Any]],
    feedback: list[dict[str, Any]],
    window: Any,
) -> None:
    outputs = config.outputs
    for plots in outputs.plots:
        with replace_dir(root / plots) as folder:
            _csv(folder / "latency.csv", latency_histogram(requests))
            _csv(folder / "daily.csv", daily_series(requests, feedback, window.start, window.end))
            if "retrieval" in metrics:
                _csv(folder / "retrieval.csv", daily_retrieval(requests, window.start, window.end))
    for path in outputs.metrics:
        write_text(root / path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _summary(stage: str, metrics: dict[str, Any]) -> None:
    r, f, d = metrics["requests"], metrics["feedback"], metrics["drift"]
    print(
        f"{stage}: {r['count']} requests (error rate {_show(r['error_rate'])}, "
        f"p95 {_show(r['latency_ms']['p95'])} ms), {f['count']} feedback (rating "
        f"{_show(f['rating_mean'])} over {f['rating_n']}, thumbs-down rate {_show(f['thumbs_down_rate'])}), "
        f"drift {_show(d['value'])}"
    )
    if "retrieval" in metrics:
        x = metrics["retrieval"]
        print(
            f"{stage}: {x['requests']} retrievals (empty rate {_show(x['empty_retrieval_rate'])}, "
            f"p95 {_show(x['retrieval_p95_ms'])} ms), {x['bad_answers']} badly rated answers with passages"
        )
        for p in x["bad_answer_passages"][:3]:
            print(f"  cited by {p['bad_answers']} bad answer(s): {p['id']}")
    a = metrics.get("abuse")
    if a and a["requests"]:
        print(
            f"{stage}: abuse over {a['screened']} screened requests from {a['keys']} key(s): injection "
            f"{_show(a['injection_rate'])}, jailbreak {_show(a['jailbreak_rate'])}, PII prompts "
            f"{_show(a['pii_prompt_rate'])}, rate-limited {_show(a['rate_limited_rate'])}, "
            f"{a['rate_anomaly_keys']} rate-anomaly key(s), "
            f"{_show(a['repeated_pii_keys'])} repeated-PII key(s)"
        )
    for check in metrics["checks"]:
        print(f"  {check['status']:>8}  {check['policy']}: {check['threshold']} {check['limit']:g}")


def _job_summary(deployment: str, metrics: dict[str, Any]) -> None:
    """In a GitHub Actions job, the figures and checks as a table on the run's page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    r, f, d = metrics["requests"], metrics["feedback"], metrics["drift"]
    rows = [
        ("requests", r["count"]),
        ("error rate", r["error_rate"]),
        (
            "p50 / p95 / p99 latency (ms)",
            " / ".join(_show(r["latency_ms"][p]) for p in ("p50", "p95", "p99")),
        ),
        ("feedback", f["count"]),
        ("rating mean (n)", f"{_show(f['rating_mean'])} ({f['rating_n']})"),
        ("thumbs-down rate (n)", f"{_show(f['thumbs_down_rate'])} ({f['thumbs_n']})"),
        ("corrections", f["corrections"]),
        ("drift", _show(d["value"]) + (f" ({d['skipped']})" if d.get("skipped") else "")),
    ]
    if "retrieval" in metrics:
        x = metrics["retrieval"]
        rows += [
            ("retrievals (empty rate)", f"{x['requests']} ({_show(x['empty_retrieval_rate'])})"),
            (
                "p50 / p95 retrieval (ms)",
                f"{_show(x['retrieval_p50_ms'])} / {_show(x['retrieval_p95_ms'])}",
            ),
            (
                "passages cited by bad answers",
                ", ".join(f"{p['id']} ({p['bad_answers']})" for p in x["bad_answer_passages"][:5]) or "none",
            ),
        ]
    a = metrics.get("abuse")
    if a and a["requests"]:
        rows += [
            (
                "injection / jailbreak / PII-prompt rate",
                " / ".join(_show(a[k]) for k in ("injection_rate", "jailbreak_rate", "pii_prompt_rate")),
            ),
            ("rate-limited rate", a["rate_limited_rate"]),
            (
                "keys with a rate anomaly",
                ", ".join(x["key"] for x in a["rate_anomalies"]) or "none",
            ),
            ("keys sending PII repeatedly", ", ".join(x["key"] for x in a["repeated_pii"]) or "none"),
        ]
    lines = [f"### monitor-{deployment}, last {metrics['window']['days']} day(s)", ""]
    if metrics.get("no_data"):
        lines += [f"> {metrics['no_data']}", ""]
    lines += ["| figure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value if isinstance(value, str) else _show(value)} |" for name, value in rows]
    if metrics["checks"]:
        lines += ["", "| policy | threshold | value | status |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {c['policy']} | {c['threshold']} {c['limit']:g} | {_show(c['value'])} | {c['status']} |"
            for c in metrics["checks"]
        ]
    with open(target, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n\n")


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
