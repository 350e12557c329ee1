"""An optional prompt-injection classifier: a Hugging Face text-classification model (for
example protectai/deberta-v3-base-prompt-injection-v2, labels SAFE / INJECTION) named by a local
folder or by a hub id pinned to a commit, loaded with safetensors only and no remote code.

Why a model and not a package: of the maintained detectors on the package index, llm-guard pins
transformers 4.51 and pulls presidio, nltk and tiktoken (its injection scanner is this same
DeBERTa model behind a transformers pipeline), rebuff needs OpenAI, LangChain and Pinecone at
run time, and vigil-llm is not installable here. Loading the model directly keeps the gateway
offline and on the transformers llmops already pins.

torch and transformers are imported only when a Deployment configures a classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmops.abuse.patterns import INJECTION, JAILBREAK
from llmops.errors import UsageError

CATEGORY_OF = {"prompt_injection": INJECTION, "jailbreak": JAILBREAK}


@dataclass
class TextClassifier:
    """Callable: texts -> the flag each raises (None when the model says safe or is unsure)."""

    model: object
    tokenizer: object
    labels: dict[int, str]  # class index -> flag, for the classes that mean abuse
    threshold: float
    max_tokens: int

    def __call__(self, texts: list[str]) -> list[str | None]:
        import torch

        batch = self.tokenizer(  # type: ignore[operator]
            texts, truncation=True, max_length=self.max_tokens, padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            probs = self.model(**batch).logits.softmax(-1)  # type: ignore[operator]
        out: list[str | None] = []
        for row in probs:
            best = max(self.labels, key=lambda i: float(row[i]), default=None)
            out.append(self.labels[best] if best is not None and float(row[best]) >= self.threshold else None)
        return out


def load(
    source: str,
    *,
    revision: str | None,
    labels: dict[str, str],
    threshold: float,
    max_tokens: int,
    root: Path | None = None,
) -> TextClassifier:
    """The classifier at `source`: a folder (relative to `root`) or a hub id at `revision`.
    `labels` maps the model's label names (case-insensitive) to flags; a model with none of them
    is an error naming what it has, not a classifier that silently never fires."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = (root / source) if root is not None and not Path(source).is_absolute() else Path(source)
    local = folder.is_dir()
    where = str(folder) if local else source
    options = {"trust_remote_code": False, "local_files_only": local}
    if not local:
        options["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **options)
        model = AutoModelForSequenceClassification.from_pretrained(where, use_safetensors=True, **options)
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"serving.abuse.classifier: cannot load a safetensors text classifier from {where}: {exc}"
        ) from None
    model.eval()
    wanted = {name.lower(): flag for name, flag in labels.items()}
    id2label = {int(i): str(name) for i, name in model.config.id2label.items()}
    chosen = {i: CATEGORY_OF[wanted[name.lower()]] for i, name in id2label.items() if name.lower() in wanted}
    if not chosen:
        raise UsageError(
            f"serving.abuse.classifier: {where} has labels {sorted(id2label.values())}, none of "
            f"{sorted(labels)}; set classifier.labels to the model's label for an attack"
        )
    return TextClassifier(model, tokenizer, chosen, threshold, max_tokens)
