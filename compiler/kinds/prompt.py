"""Prompt: a sandboxed Jinja2 template, its variables, chat format and golden tests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from llmops.compiler.kinds.common import Name, RelPath, Resources, SpecBase, SpecModel

Variable = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class FewShot(SpecModel):
    variables: dict[Variable, Any]
    completion: str


class Expect(SpecModel):
    equals: str | None = None
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)


class GoldenTest(SpecModel):
    name: Name | None = None
    variables: dict[Variable, Any]
    expect: Expect


class Prompt(SpecBase):
    kind: Literal["Prompt"]
    template: str | None = Field(default=None, max_length=100_000)
    template_file: RelPath | None = Field(
        default=None, description="Path of a Jinja2 file, relative to the project root."
    )
    system: str | None = Field(default=None, max_length=100_000)
    variables: list[Variable] = Field(default_factory=list)
    completion: Variable | None = Field(
        default=None, description="Column holding the expected answer, for training examples."
    )
    chat_format: Literal["none", "tokenizer", "chatml", "llama-2", "zephyr"] = "none"
    few_shot: list[FewShot] = Field(default_factory=list)
    tests: list[GoldenTest] = Field(default_factory=list)
    dataset: Name | None = Field(
        default=None, description="The Dataset whose splits the prompt stage renders into examples."
    )
    limits: dict[Literal["max_chars", "timeout_s"], float] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)

    @model_validator(mode="after")
    def _one_template(self) -> Prompt:
        if bool(self.template) == bool(self.template_file):
            raise ValueError("give exactly one of template or template_file")
        return self
