"""Dataset: where records come from, how they are cleaned, labeled and split."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import (
    HubId,
    Name,
    RelPath,
    Resources,
    Revision,
    SpecBase,
    SpecModel,
)

Column = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
SourceField = Annotated[str, Field(min_length=1, max_length=200)]


class Provenance(SpecModel):
    """Where a source came from; flows into the data stage's outputs and the model card."""

    origin: str = ""
    license: str = ""
    collected_at: str = ""


class HuggingFaceSource(SpecModel):
    """A `datasets` data set: a local folder, or a hub id pinned to a revision."""

    path: RelPath | None = None
    hub: HubId | None = None
    revision: Revision | None = None
    split: str = "train"

    @model_validator(mode="after")
    def _one_place(self) -> HuggingFaceSource:
        if bool(self.path) == bool(self.hub):
            raise ValueError("name exactly one of path or hub")
        if self.hub and not self.revision:
            raise ValueError("a hub data set must name a revision")
        return self


class Source(SpecModel):
    """One input: files (a path or glob), another Dataset's output, or a `datasets` set."""

    path: RelPath | None = None
    dataset: Name | None = None
    huggingface: HuggingFaceSource | None = None
    format: Literal["auto", "jsonl", "json", "csv", "parquet", "text"] = "auto"
    fields: dict[Column, SourceField] = Field(
        default_factory=dict, description="Dataset column -> source field it is read from."
    )
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        given = [k for k in ("path", "dataset", "huggingface") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("name exactly one of path, dataset or huggingface")
        return self


class _Step(SpecModel):
    pass


class Normalize(_Step):
    step: Literal["normalize"]
    unicode: Literal["NFC", "NFKC", "none"] = "NFKC"
    whitespace: bool = True


class DropEmpty(_Step):
    step: Literal["drop-empty"]
    columns: list[Column] = Field(default_factory=list)


class LengthFilter(_Step):
    step: Literal["length-filter"]
    column: Column | None = None
    unit: Literal["chars", "tokens"] = "chars"
    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=1)


class RegexFilter(_Step):
    step: Literal["regex-filter"]
    column: Column | None = None
    pattern: str
    action: Literal["keep", "drop"] = "drop"


class LanguageFilter(_Step):
    step: Literal["language-filter"]
    column: Column | None = None
    languages: list[str] = Field(min_length=1)
    min_confidence: float = Field(default=0.5, ge=0, le=1)


class DedupExact(_Step):
    step: Literal["dedup-exact"]
    columns: list[Column] = Field(default_factory=list, description="Default: the text column.")


class DedupNear(_Step):
    step: Literal["dedup-near"]
    column: Column | None = None
    threshold: float = Field(default=0.85, gt=0, le=1)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle: int = Field(default=5, ge=1, le=32)


class PiiRedact(_Step):
    step: Literal["pii-redact"]
    columns: list[Column] = Field(default_factory=list)
    kinds: list[Literal["email", "phone", "card", "ip", "iban", "secret"]] = Field(
        default_factory=lambda: ["email", "phone", "card", "ip", "iban", "secret"]
    )


CleaningStep = Annotated[
    Normalize | DropEmpty | LengthFilter | RegexFilter | LanguageFilter | DedupExact | DedupNear | PiiRedact,
    Field(discriminator="step"),
]


class Labels(SpecModel):
    column: Column = "label"
    allowed: list[str] = Field(min_length=1)
    mapping: dict[str, str] = Field(default_factory=dict)
    unknown: Literal["reject", "review"] = "reject"
    join: RelPath | None = Field(default=None, description="CSV of labels made by people.")
    join_on: Column = "id"


class Split(SpecModel):
    train: float = Field(default=0.8, ge=0, le=1)
    validation: float = Field(default=0.1, ge=0, le=1)
    test: float = Field(default=0.1, ge=0, le=1)
    seed: int | None = Field(default=None, ge=0, description="Default: the project seed.")
    stratify_by: Column | None = None
    group_by: Column | None = None

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must add up to 1 (they add up to {total:g})")
        return self


class Expectations(SpecModel):
    min_rows: int = Field(default=0, ge=0)
    max_duplicate_rate: float | None = Field(default=None, ge=0, le=1)
    required_columns: list[Column] = Field(default_factory=list)
    max_pii: int | None = Field(default=None, ge=0)


class Dataset(SpecBase):
    kind: Literal["Dataset"]
    sources: list[Source] = Field(min_length=1)
    text_column: Column = "text"
    id_column: Column | None = None
    cleaning: list[CleaningStep] = Field(
        default_factory=lambda: [DedupExact(step="dedup-exact")],
        description="Ordered steps; the default drops exact duplicates.",
    )
    labels: Labels | None = None
    split: Split = Field(default_factory=Split)
    expectations: Expectations = Field(default_factory=Expectations)
    resources: Resources = Field(default_factory=Resources)
