"""The data stage: sources -> cleaning -> labels -> split -> checks -> outputs.

`run(config, root)` is what `llmops run data-<name>` calls with the stage's resolved config.
Everything is checked before anything is written; the output folder is filled as a staging
folder and swapped in whole, so a failure at any point leaves the previous outputs as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed
from llmops.runners.data import checks, outputs
from llmops.runners.data.clean import StepCount, clean
from llmops.runners.data.labels import LabelReport, apply_labels, load_join
from llmops.runners.data.profile import build_profile, metrics_from_profile
from llmops.runners.data.report import markdown_report, plot_files
from llmops.runners.data.sources import SourceReport, read_sources
from llmops.runners.data.split import SPLITS, leaks, split
from llmops.runners.data.text import Record, canonical, key

if TYPE_CHECKING:
    from llmops.compiler.kinds.dataset import Dataset
    from llmops.compiler.stages.data import DataConfig

LEAKS_SHOWN = 3


def run(config: DataConfig, root: Path) -> None:
    spec, seed, outputs_ = config.spec, config.inputs.seed, config.outputs
    out_dir = root / outputs_.outs[0]
    metrics_path = root / outputs_.metrics[0]
    report_path = root / outputs_.reports[0] if outputs_.reports else None
    plot_dir = root / Path(outputs_.plots[0]).parent if outputs_.plots else None

    reports: list[SourceReport] = []
    read_keys: list[str] = []
    stream: Iterator[Record] = read_sources(spec, config.inputs.datasets, root, reports)
    stream = _tap(stream, read_keys, spec)
    priorities = [source.priority for source in spec.sources]
    stream, steps = clean(stream, list(spec.cleaning), spec.text_column, priorities)
    label_report = None
    if spec.labels is not None:
        joined = load_join(spec.labels, root) if spec.labels.join else None
        label_report = LabelReport()
        stream = apply_labels(stream, spec.labels, joined, label_report)
    rows = list(stream)

    ratios = {name: getattr(spec.split, name) for name in SPLITS}
    parts = split(rows, ratios, seed, spec.text_column, spec.split.stratify_by, spec.split.group_by)
    dup_read = _rate(read_keys)
    dup_final = checks.duplicate_rate(rows, spec.text_column)
    problems = _leak_problems(parts, spec)
    problems += checks.expectations(spec.expectations, rows, dup_final)
    problems += checks.duplicate_ids(rows, spec.id_column)
    problems += checks.pii_left(rows, spec.expectations.max_pii)
    if problems:
        raise StageFailed("\n".join(problems))

    profile = build_profile(
        parts,
        spec.text_column,
        spec.labels.column if spec.labels else None,
        steps,
        near_duplicate_rate=_near_duplicate_rate(steps),
    )

    with replace_dir(out_dir) as staging:
        files = {name: outputs.write_split(staging, name, parts[name]) for name in SPLITS}
        review = None
        if spec.labels is not None and spec.labels.unknown == "review":
            assert label_report is not None
            review = outputs.write_split(staging, "review", sorted(label_report.review, key=canonical))
        manifest = outputs.manifest(config, files, review, rows, reports)
        write_text(staging / "manifest.json", outputs.dump(manifest))
        document = outputs.metrics(reports, steps, label_report, files, dup_read, dup_final)
        document |= metrics_from_profile(profile)
    if plot_dir is not None:
        with replace_dir(plot_dir) as staging:
            for name, text in plot_files(profile).items():
                write_text(staging / name, text)
    if report_path is not None:
        write_text(report_path, markdown_report(profile, document, spec.name))
    write_text(metrics_path, outputs.dump(document))


def _near_duplicate_rate(steps: list[StepCount]) -> float | None:
    """What the dedup-near steps removed, as a share of what reached them; None without one."""
    near = [s for s in steps if s.step == "dedup-near"]
    if not near or not near[0].rows_in:
        return None
    return round(sum(s.dropped for s in near) / near[0].rows_in, 6)


def _tap(records: Iterable[Record], keys: list[str], spec: Dataset) -> Iterator[Record]:
    """Pass records through, remembering each one's text key for the duplicate rate of the input."""
    for record in records:
        keys.append(key(record.get(spec.text_column)))
        yield record


def _rate(keys: list[str]) -> float:
    return round((len(keys) - len(set(keys))) / len(keys), 6) if keys else 0.0


def _leak_problems(parts: dict[str, list[Record]], spec: Dataset) -> list[str]:
    found = leaks(parts, spec.text_column)
    if not found:
        return []
    shown = "; ".join(f"{text[:60]!r} in {' and '.join(names)}" for text, names in found[:LEAKS_SHOWN])
    how = (
        f"records of different '{spec.split.group_by}' groups share a text"
        if spec.split.group_by
        else "records with the same text fall in different strata"
    )
    return [
        f"split: {len(found)} text{'s appear' if len(found) != 1 else ' appears'} in more than one split "
        f"({how}): {shown}; deduplicate them (dedup-exact) or group them together"
    ]
