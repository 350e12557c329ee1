"""KnowledgeIndex: documents chunked, embedded and indexed for retrieval-augmented prompts.

The `index-<name>` stage (runners/index) builds it into `artifacts/indexes/<name>/`; a Prompt's
`retrieval` block names it, and the prompt, tune, eval and deploy stages read passages from it.
Every field that changes the chunks or the vectors is a result field, so editing a document or
the chunk size reruns the index stage and what retrieves from it, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import (
    Name,
    PinnedModel,
    Reference,
    RelPath,
    Resources,
    SpecBase,
    SpecModel,
)
from llmops.compiler.kinds.dataset import Column, SourceField

MetadataKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="A metadata key: a letter or '_', then letters, digits and '_'.",
    ),
]
MetadataValue = str | int | float | bool
# a file of the model folder, relative to it: segments never start with '.', so never '..'
ModelFile = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,199}(/[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,199}){0,7}$",
        description="A file of the model folder, relative to it (`1_Pooling/config.json`).",
    ),
]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="A SHA-256 digest: 64 lowercase hex.")]
EnvVar = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$", description="An environment variable.")]
SqlIdentifier = Annotated[
    str,
    Field(
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="A PostgreSQL table name: lowercase letters, digits and '_' (at most 63).",
    ),
]

_DATASET_ONLY = ("split", "text_column", "id_column")
_PATH_ONLY = ("format", "fields")


class DocumentSource(SpecModel):
    """One source of documents: files (a file, a folder or a glob), or a Dataset's rows."""

    path: RelPath | None = Field(
        default=None,
        description="A file, a folder (every supported file under it) or a glob, from the project root.",
    )
    dataset: Name | None = Field(
        default=None, description="A Dataset: each row of its split becomes one document."
    )
    format: Literal["auto", "markdown", "text", "html", "pdf", "jsonl"] = Field(
        default="auto",
        description="File format; auto tells it from the ending: .md, .txt, .html, .htm, .pdf, .jsonl.",
    )
    fields: dict[Literal["text", "id", "title"], SourceField] = Field(
        default_factory=dict,
        description="JSON lines only: the record keys holding the document's text, id and title.",
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, description="Static metadata added to every chunk of this source."
    )
    split: Literal["train", "validation", "test", "all"] = Field(
        default="train", description="Dataset only: the split whose rows are read (all: every split)."
    )
    text_column: Column = Field(default="text", description="Dataset only: the column holding the text.")
    id_column: Column | None = Field(
        default=None,
        description="Dataset only: the column holding the document id; unset: the dataset's `id` column "
        "when it has one, else `<split>-<row index>`.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DocumentSource:
        if bool(self.path) == bool(self.dataset):
            raise ValueError("name exactly one of path or dataset")
        wrong = _DATASET_ONLY if self.path else _PATH_ONLY
        # compared with the defaults, not `model_fields_set`: a stage config on disk holds every
        # field, defaults included, and must validate into the same model
        given = [
            k
            for k in wrong
            if getattr(self, k) != type(self).model_fields[k].get_default(call_default_factory=True)
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} only go with a {'dataset' if self.path else 'path'} source; remove them"
            )
        if self.fields and not (
            self.format == "jsonl" or (self.format == "auto" and str(self.path).endswith(".jsonl"))
        ):
            raise ValueError("fields only go with JSON lines sources (format: jsonl)")
        return self


class Chunking(SpecModel):
    """How documents are cut into passages."""

    strategy: Literal["heading", "sentence", "fixed"] = Field(
        default="heading",
        description="heading: at markdown/html headings, then at sentences; sentence: at sentences; "
        "fixed: every `size` units.",
    )
    size: int = Field(default=256, ge=8, le=8192, description="Most units per chunk.")
    overlap: int = Field(default=32, ge=0, le=4096, description="Units neighbouring chunks share (< size).")
    unit: Literal["tokens", "chars"] = Field(
        default="tokens",
        description="What size and overlap count: the embedding model's tokens, or characters.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chunking:
        if self.overlap >= self.size:
            raise ValueError(
                f"chunking overlap ({self.overlap}) must be below size ({self.size}); lower overlap"
            )
        return self


class EmbeddingModel(PinnedModel):
    """The sentence-transformers model that embeds chunks and queries: a folder or a pinned hub id."""


class Embedding(SpecModel):
    model: EmbeddingModel = Field(description="The sentence-transformers model: {path} or {hub, revision}.")
    sha256: dict[ModelFile, Sha256] = Field(
        default_factory=dict,
        description="Pins: file of the model folder -> its SHA-256, checked before the model loads.",
    )
    batch_size: int = Field(default=64, ge=1, le=4096, description="Chunks embedded per batch.")
    normalize: bool = Field(default=True, description="Scale every vector to unit length.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where to embed; auto: CUDA when available, else the CPU."
    )


class Hnsw(SpecModel):
    m: int = Field(default=32, ge=2, le=256, description="Neighbours per node of the HNSW graph.")
    ef_construction: int = Field(default=200, ge=1, le=4096, description="Search breadth while building.")
    ef_search: int = Field(default=128, ge=1, le=4096, description="Search breadth per query.")


class IndexEngine(SpecModel):
    type: Literal["faiss", "pgvector"] = Field(
        default="faiss",
        description="faiss: an index file beside the chunks (embedded); pgvector: a PostgreSQL table.",
    )
    index: Literal["flat", "hnsw"] = Field(
        default="hnsw", description="flat: exact search; hnsw: approximate, fast on large indexes."
    )
    metric: Literal["cosine", "ip", "l2"] = Field(
        default="cosine", description="Similarity: cosine, inner product or euclidean distance."
    )
    hnsw: Hnsw = Field(default_factory=Hnsw, description="HNSW parameters (index: hnsw).")
    dsn_env: EnvVar | None = Field(
        default=None,
        description="pgvector: the environment variable holding the connection string (never the DSN).",
    )
    table: SqlIdentifier | None = Field(
        default=None, description="pgvector: the table; default `llmops_kb_<name with - as _>`."
    )

    @model_validator(mode="after")
    def _pgvector_settings(self) -> IndexEngine:
        if self.type == "pgvector" and not self.dsn_env:
            raise ValueError(
                "a pgvector engine names dsn_env: the environment variable holding the connection "
                "string (for example dsn_env: LLMOPS_PGVECTOR_DSN)"
            )
        if self.type != "pgvector" and (self.dsn_env or self.table):
            raise ValueError("dsn_env and table only go with type: pgvector")
        return self


class KnowledgeIndex(SpecBase):
    kind: Literal["KnowledgeIndex"] = Field(description="Always `KnowledgeIndex`.")
    documents: list[DocumentSource] = Field(
        min_length=1, max_length=100, description="Where the documents come from: files or Datasets."
    )
    chunking: Chunking = Field(default_factory=Chunking, description="How documents are cut into chunks.")
    embedding: Embedding = Field(description="The model that embeds chunks and queries.")
    engine: IndexEngine = Field(default_factory=IndexEngine, description="Where the vectors are searched.")
    metadata_fields: list[MetadataKey] = Field(
        default_factory=list,
        description="Metadata keys prompts may filter on (`retrieval.filters`, `filter_from`).",
    )
    resources: Resources = Field(default_factory=Resources, description="Where the index stage runs.")

    @property
    def table(self) -> str:
        """The pgvector table: `engine.table`, else `llmops_kb_<name with - as _>`."""
        return self.engine.table or f"llmops_kb_{self.name.replace('-', '_')}"[:63]

    def references(self) -> Iterator[Reference]:
        for i, source in enumerate(self.documents):
            if source.dataset:
                yield ("documents", i, "dataset"), "Dataset", source.dataset
