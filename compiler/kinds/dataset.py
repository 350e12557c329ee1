"""Dataset: where records come from, how they are cleaned, labeled and split."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import (
    HubId,
    Name,
    Reference,
    RelPath,
    Resources,
    Revision,
    SpecBase,
    SpecModel,
)

Column = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="A column of the dataset: a letter or '_', then letters, digits and '_'.",
    ),
]
SourceField = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="A field of the source's records; `a.b` reaches into nested objects.",
    ),
]


class Provenance(SpecModel):
    """Where a source came from; flows into the data stage's outputs and the model card."""

    origin: str = Field(
        default="", description="Where the data came from, in words; recorded in the dataset's manifest."
    )
    license: str = Field(
        default="",
        description="License of the data (e.g. apache-2.0); the review stage checks it against the Policy's"
        " `licenses_allowed`, and none counts as unknown, which is refused.",
    )
    collected_at: str = Field(
        default="",
        description="When the data was collected (free text, e.g. a date); recorded in the manifest.",
    )


class HuggingFaceSource(SpecModel):
    """A `datasets` data set: a local folder, or a hub id pinned to a revision."""

    path: RelPath | None = Field(
        default=None,
        description="A local folder: one saved with `save_to_disk`, or one `load_dataset` can read.",
    )
    hub: HubId | None = Field(
        default=None, description="A data set id on the Hugging Face hub; needs `revision`."
    )
    revision: Revision | None = Field(default=None, description="Commit, tag or branch of the hub data set.")
    split: str = Field(default="train", description="The split of the data set to read.")

    @model_validator(mode="after")
    def _one_place(self) -> HuggingFaceSource:
        if bool(self.path) == bool(self.hub):
            raise ValueError("name exactly one of path or hub")
        if self.hub and not self.revision:
            raise ValueError("a hub data set must name a revision")
        return self


class Source(SpecModel):
    """One input: files (a path or glob), another Dataset's output, or a `datasets` set."""

    path: RelPath | None = Field(
        default=None, description="A file, or a glob pattern whose files are read in sorted order."
    )
    dataset: Name | None = Field(
        default=None, description="Another Dataset: its train, validation and test rows, split anew here."
    )
    huggingface: HuggingFaceSource | None = Field(
        default=None, description="A Hugging Face `datasets` data set."
    )
    format: Literal["auto", "jsonl", "json", "csv", "parquet", "text"] = Field(
        default="auto",
        description="File format; auto tells it from the file name's ending. `text` reads one record per "
        "non-empty line into the text column.",
    )
    fields: dict[Column, SourceField] = Field(
        default_factory=dict, description="Dataset column -> source field it is read from."
    )
    provenance: Provenance = Field(
        default_factory=Provenance,
        description="Where the source came from and its license; recorded in the manifest.",
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="Rank of this source's records in a dedup step with `keep: preferred`: of duplicate "
        "records, the one from the source with the highest priority stays (ties: the one read last). "
        "`llmops feedback export --add-to` writes 10, so corrections beat the answers they correct.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        given = [k for k in ("path", "dataset", "huggingface") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("name exactly one of path, dataset or huggingface")
        return self


class _Step(SpecModel):
    pass


class Normalize(_Step):
    step: Literal["normalize"] = Field(description="Unicode and whitespace normalization of every text cell.")
    unicode: Literal["NFC", "NFKC", "none"] = Field(
        default="NFKC", description="Unicode normalization form (none: leave the characters as they are)."
    )
    whitespace: bool = Field(
        default=True, description="Collapse runs of spaces, strip each line, keep at most one blank line."
    )


class DropEmpty(_Step):
    step: Literal["drop-empty"] = Field(description="Drop records with an empty value in any of `columns`.")
    columns: list[Column] = Field(
        default_factory=list, description="Columns that must not be empty; default: the text column."
    )


class LengthFilter(_Step):
    step: Literal["length-filter"] = Field(
        description="Drop records shorter than `min` or longer than `max`."
    )
    column: Column | None = Field(default=None, description="Column measured; default: the text column.")
    unit: Literal["chars", "tokens"] = Field(
        default="chars", description="Count characters, or whitespace-separated tokens."
    )
    min: int = Field(default=0, ge=0, description="Shortest length kept.")
    max: int | None = Field(default=None, ge=1, description="Longest length kept; unset: no limit.")


class RegexFilter(_Step):
    step: Literal["regex-filter"] = Field(
        description="Keep or drop records whose text matches a regular expression."
    )
    column: Column | None = Field(default=None, description="Column searched; default: the text column.")
    pattern: str = Field(description="A Python regular expression, searched anywhere in the text.")
    action: Literal["keep", "drop"] = Field(
        default="drop", description="drop the records that match, or keep only those."
    )


class LanguageFilter(_Step):
    step: Literal["language-filter"] = Field(
        description="Keep the records written in `languages` (fastText language identification, offline)."
    )
    column: Column | None = Field(default=None, description="Column checked; default: the text column.")
    languages: list[str] = Field(
        min_length=1,
        description="Language codes to keep: ISO 639-1 where the language has one (en, fr), else ISO 639-3.",
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Lowest detection probability that counts as a match."
    )


DedupKeep = Literal["first", "last", "preferred"]
_KEEP_DESCRIPTION = (
    "Which record of a group of duplicates stays: `first` the one read first (sources in spec order, "
    "then file order); `last` the one read last, so a later source (e.g. the newest feedback export) "
    "wins; `preferred` the one whose source has the highest `priority` (ties: the one read last). "
    "Survivors keep their read order; with `last`/`preferred`, a dedup-exact survivor takes the columns "
    "it lacks (e.g. `label`) from the duplicates it replaced."
)


class DedupExact(_Step):
    step: Literal["dedup-exact"] = Field(
        description="Drop records whose normalized `columns` another record also has; "
        "`keep` says which stays."
    )
    columns: list[Column] = Field(default_factory=list, description="Default: the text column.")
    keep: DedupKeep = Field(default="first", description=_KEEP_DESCRIPTION)


class DedupNear(_Step):
    step: Literal["dedup-near"] = Field(
        description="Drop near duplicates (MinHash LSH over character shingles); "
        "`keep` says which record of each cluster stays (default the first)."
    )
    column: Column | None = Field(default=None, description="Column compared; default: the text column.")
    threshold: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity from which a record is a duplicate of an earlier one.",
    )
    num_perm: int = Field(
        default=128,
        ge=16,
        le=1024,
        description="MinHash permutations per signature: more is more precise and slower.",
    )
    shingle: int = Field(default=5, ge=1, le=32, description="Length of the character n-grams compared.")
    keep: DedupKeep = Field(default="first", description=_KEEP_DESCRIPTION)


class PiiRedact(_Step):
    step: Literal["pii-redact"] = Field(
        description="Replace emails, phone numbers, cards, IPs, IBANs and secrets with placeholders "
        "such as [EMAIL]."
    )
    columns: list[Column] = Field(
        default_factory=list,
        description="Columns to redact; default: every column (strings in lists and maps too).",
    )
    kinds: list[Literal["email", "phone", "card", "ip", "iban", "secret", "ssn"]] = Field(
        default_factory=lambda: ["email", "phone", "card", "ip", "iban", "secret"],
        description="The kinds of personal data to find; `ssn` (US social security numbers) only "
        "when listed.",
    )


CleaningStep = Annotated[
    Normalize | DropEmpty | LengthFilter | RegexFilter | LanguageFilter | DedupExact | DedupNear | PiiRedact,
    Field(discriminator="step"),
]


class Labels(SpecModel):
    column: Column = Field(
        default="label", description="Column holding the label; also the label column of the `join` CSV."
    )
    allowed: list[str] = Field(
        min_length=1, description="The labels a record may have, after joining and mapping."
    )
    mapping: dict[str, str] = Field(default_factory=dict, description="Raw label -> allowed label.")
    unknown: Literal["reject", "review"] = Field(
        default="reject",
        description="A record whose label is not allowed: reject fails the stage; review sets it aside in "
        "review.jsonl, out of the splits.",
    )
    join: RelPath | None = Field(default=None, description="CSV of labels made by people.")
    join_on: Column = Field(
        default="id", description="Column that matches records with rows of the `join` CSV."
    )


class Split(SpecModel):
    train: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Share of the records in the train split; the three shares add up to 1.",
    )
    validation: float = Field(
        default=0.1, ge=0, le=1, description="Share of the records in the validation split."
    )
    test: float = Field(default=0.1, ge=0, le=1, description="Share of the records in the test split.")
    seed: int | None = Field(default=None, ge=0, description="Default: the project seed.")
    stratify_by: Column | None = Field(
        default=None, description="Column whose values keep their proportions in every split."
    )
    group_by: Column | None = Field(
        default=None,
        description="Column whose value keeps records together in one split (a conversation id, say).",
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must add up to 1 (they add up to {total:g})")
        return self


class Expectations(SpecModel):
    min_rows: int = Field(default=0, ge=0, description="Fewest rows the finished dataset may have.")
    max_duplicate_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Highest share of rows that may repeat an earlier row's normalized text.",
    )
    required_columns: list[Column] = Field(
        default_factory=list, description="Columns every row must have a value in."
    )
    max_pii: int | None = Field(
        default=None,
        ge=0,
        description="Most PII values allowed in the finished rows (after any pii-redact step).",
    )


class Dataset(SpecBase):
    kind: Literal["Dataset"] = Field(description="Always `Dataset`.")
    sources: list[Source] = Field(
        min_length=1, description="Where the records come from, read in this order."
    )
    text_column: Column = Field(
        default="text",
        description="Column of each record's text: the default column of the cleaning steps, and what the "
        "split and its leakage check compare.",
    )
    id_column: Column | None = Field(
        default=None,
        description="Column of a unique id per record; a record without one, or a repeated id, fails the "
        "stage.",
    )
    cleaning: list[CleaningStep] = Field(
        default_factory=lambda: [DedupExact(step="dedup-exact")],
        description="Ordered steps; the default drops exact duplicates.",
    )
    labels: Labels | None = Field(
        default=None,
        description="Which labels are allowed, how raw ones map to them, labels joined from a CSV.",
    )
    split: Split = Field(
        default_factory=Split, description="How the records are split into train, validation and test."
    )
    expectations: Expectations = Field(
        default_factory=Expectations, description="Checks on the finished data; a broken one fails the stage."
    )
    resources: Resources = Field(default_factory=Resources, description="Where the data stage runs.")

    def references(self) -> Iterator[Reference]:
        for i, src in enumerate(self.sources):
            if src.dataset:
                yield ("sources", i, "dataset"), "Dataset", src.dataset
