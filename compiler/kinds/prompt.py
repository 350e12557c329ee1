"""Prompt: a sandboxed Jinja2 template, its variables, chat format and golden tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from llmops.compiler.kinds.common import (
    Name,
    PinnedModel,
    Reference,
    RelPath,
    Resources,
    SpecBase,
    SpecModel,
)

Variable = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="A template variable: a letter or '_', then letters, digits and '_'.",
    ),
]


MAX_MAX_CHARS = 1_000_000  # a prompt of a million characters is past any model's context
MAX_TIMEOUT_S = 60  # seconds to render one prompt; the default is 2


# Each limit is bounded itself: a render may build up to 100 x max_chars of intermediate text,
# so an unbounded max_chars (`.inf`, `1e15`) would bound nothing. A TypedDict, not a model, so
# the stage config carries only the keys the spec sets, as it did when this was a plain dict.
class PromptLimits(TypedDict, total=False):
    """Sandbox limits of one render; unset ones take the engine's defaults."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    max_chars: Annotated[
        int, Field(strict=True, ge=1, le=MAX_MAX_CHARS, description="Most characters one render may produce.")
    ]
    timeout_s: Annotated[
        float,
        Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False, description="Most seconds one render may take."),
    ]


class FewShot(SpecModel):
    variables: dict[Variable, Any] = Field(description="The template's variables for this example.")
    completion: str = Field(description="The answer that follows it.")


class Expect(SpecModel):
    equals: str | None = Field(default=None, description="The whole rendered prompt, exactly.")
    contains: list[str] = Field(default_factory=list, description="Texts the rendered prompt must contain.")
    not_contains: list[str] = Field(
        default_factory=list, description="Texts the rendered prompt must not contain."
    )


class GoldenTest(SpecModel):
    name: Name | None = Field(default=None, description="Names the test in messages.")
    variables: dict[Variable, Any] = Field(description="The template's variables for this test.")
    expect: Expect = Field(description="What the rendered prompt must be.")


MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="A metadata key.")]


class RerankModel(PinnedModel):
    """A sentence-transformers CrossEncoder: a folder or a pinned hub id."""


class Rerank(SpecModel):
    """Rescore the `candidates` nearest passages with a cross-encoder and keep the best `top_k`."""

    model: RerankModel = Field(description="The CrossEncoder: `{path}` or `{hub, revision}`.")
    candidates: int = Field(default=20, ge=1, le=1000, description="Passages retrieved and rescored.")


class Retrieval(SpecModel):
    """Passages from a KnowledgeIndex, given to the template as one more variable."""

    index: Name = Field(description="The KnowledgeIndex searched.")
    query: Variable = Field(description="The template variable whose value is the search query.")
    top_k: int = Field(default=4, ge=1, le=100, description="Passages given to the template.")
    filters: dict[MetadataKey, str | int | float | bool] = Field(
        default_factory=dict,
        description="Equality filters on the index's `metadata_fields`, the same for every row.",
    )
    filter_from: dict[MetadataKey, Variable] = Field(
        default_factory=dict,
        description="Per-row filters: metadata key -> the template variable holding its value.",
    )
    min_score: float | None = Field(
        default=None, allow_inf_nan=False, description="Drop passages scoring below this."
    )
    rerank: Rerank | None = Field(default=None, description="Rescore candidates with a cross-encoder.")
    variable: Variable = Field(
        default="passages",
        description="The template variable the passages are given as: a list of `{id, doc_id, text, "
        "score, source, title, metadata}`; declared implicitly.",
    )

    @model_validator(mode="after")
    def _enough_candidates(self) -> Retrieval:
        if self.rerank and self.rerank.candidates < self.top_k:
            raise ValueError(
                f"rerank.candidates ({self.rerank.candidates}) is below top_k ({self.top_k}); "
                "rerank at least top_k passages"
            )
        return self


class Prompt(SpecBase):
    kind: Literal["Prompt"] = Field(description="Always `Prompt`.")
    template: str | None = Field(
        default=None, max_length=100_000, description="The Jinja2 template of the user turn, inline."
    )
    template_file: RelPath | None = Field(
        default=None, description="Path of a Jinja2 file, relative to the project root."
    )
    system: str | None = Field(
        default=None, max_length=100_000, description="System text: the first message of every prompt."
    )
    variables: list[Variable] = Field(
        default_factory=list,
        description="The variables the template may read; the stage passes only these columns.",
    )
    completion: Variable | None = Field(
        default=None, description="Column holding the expected answer, for training examples."
    )
    chat_format: Literal["none", "tokenizer", "chatml", "llama-2", "zephyr"] = Field(
        default="none",
        description="How the messages become text: plain blocks (none), chatml, llama-2, zephyr, or the "
        "model tokenizer's own chat template.",
    )
    few_shot: list[FewShot] = Field(
        default_factory=list, description="Example exchanges placed before every prompt."
    )
    tests: list[GoldenTest] = Field(
        default_factory=list, description="Golden tests, run by `llmops validate` and by the prompt stage."
    )
    dataset: Name | None = Field(
        default=None, description="The Dataset whose splits the prompt stage renders into examples."
    )
    limits: PromptLimits = Field(
        default_factory=lambda: PromptLimits(),
        description="Sandbox limits of one render: `max_chars` of text (default 100000, at most "
        f"{MAX_MAX_CHARS}) and `timeout_s` (default 2, at most {MAX_TIMEOUT_S}).",
    )
    # absent from stage configs when unset, so prompts without retrieval rerun nothing
    retrieval: Retrieval | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Retrieval-augmented generation: passages from a KnowledgeIndex for every render.",
    )
    resources: Resources = Field(default_factory=Resources, description="Where the prompt stage runs.")

    @model_validator(mode="after")
    def _one_template(self) -> Prompt:
        if bool(self.template) == bool(self.template_file):
            raise ValueError("give exactly one of template or template_file")
        return self

    def references(self) -> Iterator[Reference]:
        if self.dataset:
            yield ("dataset",), "Dataset", self.dataset
        if self.retrieval:
            yield ("retrieval", "index"), "KnowledgeIndex", self.retrieval.index
