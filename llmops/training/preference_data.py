"""Preference rows for TRL: the FineTune's Prompt rendered over each dataset row, with the row's
chosen/rejected answers (pairs: dpo, orpo, simpo) or its answer and good/bad label (kto).

The prompt is rendered exactly as SFT renders it (`llmops.training.examples`: same sandbox,
same chat format, same retrieval), so a preference-tuned model is trained on the very text the
gateway later sends it; answers get the chat format's end marker as SFT's completions do.
Rows come from feedback, i.e. from users: each text field has a size budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import StageFailed
from llmops.hashing import file_sha256
from llmops.training.examples import SPLITS, _jsonl

if TYPE_CHECKING:
    from llmops.compiler.kinds.finetune import Objective
    from llmops.compiler.kinds.prompt import Prompt

MAX_FIELD_CHARS = 100_000  # one prompt variable or answer; longer ones are refused, not cut
PAIRED = ("dpo", "orpo", "simpo")
_TRUE = {"true", "1", "yes", "good", "up"}
_FALSE = {"false", "0", "no", "bad", "down"}


@dataclass(frozen=True)
class PreferenceData:
    splits: dict[str, list[dict[str, Any]]]  # TRL rows: prompt + chosen/rejected or completion/label
    prompt_hash: str
    data_hashes: dict[str, str]
    truncated_prompts: int


def load_preference_rows(
    prompt: Prompt,
    root: Path,
    tokenizer: Any,
    objective: Objective,
    *,
    dataset: str,
    retrieval_index: str | None = None,
) -> PreferenceData:
    """TRL rows per split of `dataset` (a folder of `<split>.jsonl`), keeping the last
    `objective.max_prompt_length` tokens of long prompts (the question nearest the answer)."""
    from llmops.prompting.render import PromptTemplate
    from llmops.prompting.retrieval import augment_rows, open_augmenter

    template = PromptTemplate.from_config(prompt, root)
    augmenter = open_augmenter(template.retrieval, retrieval_index, root, owner=f"prompt '{template.name}'")
    if objective.type in PAIRED:
        columns = {"chosen": objective.chosen_column, "rejected": objective.rejected_column}
    else:
        columns = {"completion": objective.completion_column}
    cut = _PromptCut(tokenizer, objective.max_prompt_length)

    def convert(where: str, row: dict[str, Any]) -> dict[str, Any]:
        for key, value in row.items():
            if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                raise StageFailed(f"{where}: '{key}' has {len(value)} characters (at most {MAX_FIELD_CHARS})")
        out: dict[str, Any] = {"prompt": cut(template.render(row).prompt_for(tokenizer))}
        for key, column in columns.items():
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise StageFailed(
                    f"{where}: row has no text in '{column}' (objective {objective.type} reads its "
                    f"{key} from objective.{key}_column)"
                )
            out[key] = template.completion_text(value)
        if objective.type == "kto":
            out["label"] = _label(where, row.get(objective.label_column), objective.label_column)
        return out

    splits: dict[str, list[dict[str, Any]]] = {}
    hashes: dict[str, str] = {}
    for split in SPLITS:
        path = root / dataset / f"{split}.jsonl"
        if not path.is_file():
            continue
        hashes[f"{dataset}/{split}.jsonl"] = file_sha256(path)
        numbered = list(_jsonl(path))
        rows = augment_rows(augmenter, (row for _, row in numbered))
        splits[split] = [
            convert(f"{path}:{number}", row) for (number, _), row in zip(numbered, rows, strict=True)
        ]
    if objective.type == "kto":
        _check_both_labels(splits.get("train", []), dataset)
    return PreferenceData(splits, template.content_hash, hashes, cut.truncated)


def _label(where: str, value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise StageFailed(f"{where}: '{column}' is {value!r}; kto needs true (good answer) or false (bad answer)")


def _check_both_labels(rows: list[dict[str, Any]], dataset: str) -> None:
    """KTO learns from the contrast of good and bad answers; one kind alone teaches nothing."""
    labels = {row["label"] for row in rows}
    if rows and len(labels) < 2:
        kind = "good" if labels == {True} else "bad"
        raise StageFailed(f"{dataset}/train.jsonl: every answer is labelled {kind}; kto needs both kinds")


class _PromptCut:
    """Keeps the last `limit` tokens of a prompt, counting how many prompts it cut."""

    def __init__(self, tokenizer: Any, limit: int | None) -> None:
        self.tokenizer, self.limit, self.truncated = tokenizer, limit, 0

    def __call__(self, text: str) -> str:
        if self.limit is None:
            return text
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.limit:
            return text
        self.truncated += 1
        return str(self.tokenizer.decode(ids[-self.limit :]))
