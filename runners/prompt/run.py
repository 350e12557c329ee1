"""The prompt stage: a Dataset's splits rendered into the examples a model trains and is tested on.

`run(config, root)` is what `llmops run prompt-<name>` calls with the stage's resolved config.
Order matters for what a failure leaves behind: the template is compiled and its golden tests
run first, then every row is rendered into a staging folder that replaces
`artifacts/prompts/<name>/` only when all of it succeeded, so a failing test, a row without a
declared variable or a template error leaves the previous outputs as they were.

Each split file holds one JSON object per row: `id` (the dataset's id column, else the row's
index in its split), `split`, `messages`, `prompt` (None for chat_format tokenizer), and for a
prompt with a `completion` column, `completion` (the answer as it follows the prompt, with the
format's end marker: what to train on) and `reference` (the raw answer: what to score against).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.errors import StageFailed
from llmops.prompting.golden import run_golden
from llmops.prompting.render import PromptTemplate
from llmops.prompting.retrieval import BATCH, open_augmenter, passage_ids

if TYPE_CHECKING:
    from llmops.compiler.stages.prompt import PromptConfig

SPLITS = ("train", "validation", "test")  # the review split holds unlabelled rows: not examples


@dataclass
class _Lengths:
    """Prompt lengths in characters, for the metrics."""

    total: int = 0
    count: int = 0
    longest: int = 0
    passages: int = 0  # retrieved passages over all examples (RAG prompts)
    empty: int = 0  # examples for which retrieval found nothing
    per_split: dict[str, int] = field(default_factory=dict)

    def add(self, chars: int) -> None:
        self.total += chars
        self.count += 1
        self.longest = max(self.longest, chars)


def run(config: PromptConfig, root: Path) -> None:
    stage = config.stage
    template = PromptTemplate.from_config(config.spec, root)
    failures = run_golden(template)
    if failures:
        lines = "\n".join(f"  {failure}" for failure in failures)
        raise StageFailed(
            f"{stage}: {len(failures)} of {len(template.spec.tests)} golden tests failed; "
            f"nothing was written:\n{lines}"
        )
    dataset_rel = config.inputs.dataset
    dataset_dir = root / dataset_rel
    manifest_bytes = _dataset_manifest(stage, dataset_dir, dataset_rel)
    id_column = json.loads(manifest_bytes).get("id_column")
    out_dir = root / config.outputs.outs[0]
    metrics_path = root / config.outputs.metrics[0]

    retrieval_index = getattr(config.inputs, "retrieval_index", None)
    augmenter = open_augmenter(template.retrieval, retrieval_index, root, owner=stage)
    lengths = _Lengths()
    with replace_dir(out_dir) as staging:
        splits = {}
        for split in SPLITS:
            rows = _read_rows(stage, dataset_dir / f"{split}.jsonl", dataset_rel)
            checked = _augmented(augmenter, _checked(stage, template, split, rows))
            examples = _examples(template, split, checked, id_column, lengths)
            splits[split] = _write_jsonl(staging / f"{split}.jsonl", examples)
            lengths.per_split[split] = splits[split]["rows"]
        manifest = {
            "prompt": template.name,
            "stage": stage,
            "prompt_hash": template.content_hash,
            "chat_format": template.chat_format,
            "dataset": dataset_rel,
            "dataset_manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "splits": splits,
            "runner_version": config.runner_version,
        }
        if augmenter is not None:
            manifest["retrieval_index"] = retrieval_index
            manifest["index_manifest_sha256"] = hashlib.sha256(
                (root / str(retrieval_index) / "manifest.json").read_bytes()
            ).hexdigest()
        write_text(staging / "manifest.json", _dump(manifest))
    metrics = {
        "examples": dict(lengths.per_split),
        "golden_tests": {"passed": len(template.spec.tests), "failed": 0},
        "prompt_chars": {
            "mean": round(lengths.total / lengths.count, 2) if lengths.count else 0,
            "max": lengths.longest,
        },
        "prompt_hash": template.content_hash,
    }
    if augmenter is not None:
        metrics["retrieval"] = {
            "passages_mean": round(lengths.passages / lengths.count, 3) if lengths.count else 0,
            "empty_retrievals": lengths.empty,
        }
    write_text(metrics_path, _dump(metrics))


def _checked(
    stage: str, template: PromptTemplate, split: str, rows: Iterator[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows; a row without a declared variable stops the stage, naming it."""
    for line, row in rows:
        missing = [name for name in template.variables if row.get(name) is None]
        if missing:
            raise StageFailed(
                f"{stage}: {split}.jsonl row {line}: no value for variable{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} of prompt '{template.name}' "
                f"(the row has {', '.join(sorted(row)) or 'no columns'})"
            )
        yield line, row


def _augmented(
    augmenter: Any | None, rows: Iterator[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows with their retrieved passages, retrieved a batch at a time (unchanged without)."""
    if augmenter is None:
        yield from rows
        return
    pending: list[tuple[int, dict[str, Any]]] = []
    for pair in rows:
        pending.append(pair)
        if len(pending) >= BATCH:
            yield from zip([n for n, _ in pending], augmenter.augment([r for _, r in pending]), strict=True)
            pending = []
    if pending:
        yield from zip([n for n, _ in pending], augmenter.augment([r for _, r in pending]), strict=True)


def _examples(
    template: PromptTemplate,
    split: str,
    rows: Iterator[tuple[int, dict[str, Any]]],
    id_column: str | None,
    lengths: _Lengths,
) -> Iterator[dict[str, Any]]:
    """One example per row (rows checked and, for a RAG prompt, augmented already)."""
    completion_column = template.completion_column
    passages = template.passages_variable
    wanted = [*template.variables, *([completion_column] if completion_column else [])]
    wanted += [passages] if passages else []
    for index, (line, row) in enumerate(rows):
        variables = {name: row[name] for name in wanted if name in row}
        rendered = template.render(variables, during=f"{split}.jsonl row {line}")
        reference = row.get(completion_column) if completion_column else None
        if reference is not None and not isinstance(reference, str):
            reference = json.dumps(reference, ensure_ascii=False, sort_keys=True)
        lengths.add(len(rendered.prompt if rendered.prompt is not None else rendered.user))
        example = {
            "id": row[id_column] if id_column and row.get(id_column) is not None else index,
            "split": split,
            "messages": rendered.messages,
            "prompt": rendered.prompt,
            "completion": template.completion_text(reference) if reference is not None else None,
            "reference": reference,
        }
        if passages:
            example["passages"] = passage_ids(row.get(passages))
            lengths.passages += len(example["passages"])
            lengths.empty += not example["passages"]
        yield example


def _dataset_manifest(stage: str, folder: Path, rel: str) -> bytes:
    try:
        data = (folder / "manifest.json").read_bytes()
        json.loads(data)
    except FileNotFoundError:
        raise StageFailed(
            f"{stage}: {rel}/manifest.json does not exist; run the dataset's stage first"
        ) from None
    except (OSError, ValueError) as exc:
        raise StageFailed(f"{stage}: {rel}/manifest.json cannot be read ({exc})") from None
    return data


def _read_rows(stage: str, path: Path, rel: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each line of a split file."""
    if not path.is_file():
        raise StageFailed(f"{stage}: {rel}/{path.name} does not exist; run the dataset's stage first")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise StageFailed(f"{rel}/{path.name}:{number}: not a JSON line ({exc})") from None
            if not isinstance(row, dict):
                raise StageFailed(f"{rel}/{path.name}:{number}: a row must be a JSON object")
            yield number, row


def _write_jsonl(path: Path, examples: Iterator[dict[str, Any]]) -> dict[str, Any]:
    hasher = hashlib.sha256()
    count = 0
    with open(path, "wb") as handle:
        for example in examples:
            data = (json.dumps(example, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
            hasher.update(data)
            handle.write(data)
            count += 1
    return {"file": path.name, "rows": count, "sha256": hasher.hexdigest()}


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
