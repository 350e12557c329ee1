"""`PromptTemplate`: a Prompt spec made ready to render rows into what a model sees.

The prompt engine's public face: the prompt stage uses it, and so do the fine-tuning and
evaluation runners, so that a model is trained and evaluated on exactly the text the prompt
stage shows in its examples. Build one with `PromptTemplate.from_config(spec_fields, root)`,
where `spec_fields` is the prompt's spec as the compiler writes it into stage configs.

Building one does everything that does not depend on a row, so problems show up once and early:
the template compiles in the sandbox, every variable it reads must be declared, and the few-shot
examples are rendered. `render(row)` then only renders the user turn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmops.compiler.kinds.prompt import Prompt
from llmops.paths import PathOutsideProject, inside
from llmops.prompting import chat
from llmops.prompting.limits import DEFAULT_MAX_CHARS, DEFAULT_TIMEOUT_S
from llmops.prompting.sandbox import PromptError, SandboxedTemplate, TemplateSource


@dataclass(frozen=True)
class Rendered:
    """One rendered prompt: the chat messages, and the text up to the answer (None for tokenizer)."""

    messages: list[dict[str, str]]
    prompt: str | None
    prompt_name: str = field(default="", compare=False, repr=False)

    @property
    def user(self) -> str:
        """The last user turn: the template rendered for this row."""
        return self.messages[-1]["content"]

    def prompt_for(self, tokenizer: Any | None) -> str:
        """The prompt text; for chat_format tokenizer, the tokenizer's chat template applied."""
        if self.prompt is not None:
            return self.prompt
        try:
            return chat.apply_tokenizer(tokenizer, self.messages)
        except chat.ChatFormatError as exc:
            raise PromptError(f"prompt '{self.prompt_name}': {exc}") from None


class PromptTemplate:
    """A compiled prompt: template, system text, few-shot turns and chat format."""

    def __init__(self, spec: Prompt, template_text: str, source: TemplateSource) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.chat_format: str = spec.chat_format
        self.completion_column: str | None = spec.completion
        self.variables: tuple[str, ...] = tuple(spec.variables)
        # A Prompt with `retrieval` gets its passages as one more variable, declared implicitly:
        # a list of passage dicts ({id, doc_id, text, score, source, title, metadata}).
        self.retrieval: Any = getattr(spec, "retrieval", None)
        self.passages_variable: str | None = self.retrieval.variable if self.retrieval else None
        self.system: str | None = spec.system
        self.template_text = template_text
        self.source = source
        self.max_chars, self.timeout_s = _limits(spec, source)
        self.content_hash: str = content_hash(spec, template_text)
        self._template = SandboxedTemplate(
            template_text, source, max_chars=self.max_chars, timeout_s=self.timeout_s
        )
        self._check_declared()
        self._shots = tuple(
            (self.render_user(shot.variables, during=f"few_shot[{index}]"), shot.completion)
            for index, shot in enumerate(spec.few_shot)
        )

    @classmethod
    def from_config(
        cls,
        prompt: Prompt | dict[str, Any],
        root: Path,
        *,
        source: str | None = None,
        template_line: int | None = None,
    ) -> PromptTemplate:
        """From the prompt's spec (typed, as in a typed stage config, or its fields) and the
        project root.

        `source` is the spec file, for messages; `template_line` is the line of that file on which
        an inline template's first line sits, so errors can point into the spec file.
        """
        spec = prompt if isinstance(prompt, Prompt) else _parse(prompt, source)
        if spec.template_file:
            text = _read_template_file(root, spec.template_file, spec.name, source)
            where = TemplateSource(spec.name, file=spec.template_file, spec=source)
        else:
            text = spec.template or ""
            where = TemplateSource(spec.name, spec=source, first_line=template_line)
        return cls(spec, text, where)

    def render_user(self, variables: Mapping[str, Any], *, during: str = "") -> str:
        """The template alone, rendered with these variables (the user turn)."""
        return self._template.render(variables, during=during)

    def render(self, variables: Mapping[str, Any], *, during: str = "") -> Rendered:
        """Messages and prompt text for one row (or one test's variables)."""
        user = self.render_user(variables, during=during)
        messages = chat.build_messages(self.system, self._shots, user)
        try:
            prompt = chat.format_prompt(self.chat_format, messages)
        except chat.ChatFormatError as exc:
            raise self.source.error(None, str(exc)) from None
        return Rendered(messages, prompt, self.name)

    def completion_text(self, completion: str) -> str:
        """The answer as it follows the prompt in training text, with the format's end marker."""
        return chat.completion_text(self.chat_format, completion)

    def _check_declared(self) -> None:
        """Every variable the template reads must be declared: the stage passes only those."""
        declared = set(self.variables) | ({self.completion_column} if self.completion_column else set())
        if self.passages_variable:
            declared.add(self.passages_variable)
        missing = self._template.undeclared(declared)
        if not missing:
            return
        known = ", ".join(sorted(declared)) or "none"
        lines = [
            str(
                self.source.error(
                    line, f"variable '{name}' is used but not declared in `variables` (declared: {known})"
                )
            )
            for name, line in sorted(missing.items(), key=lambda item: (item[1], item[0]))
        ]
        raise PromptError("\n".join(lines))


def content_hash(spec: Prompt, template_text: str) -> str:
    """sha256 of what decides the rendered text: a renamed template file keeps its hash.

    A Prompt with `retrieval` hashes its retrieval settings too (the index's contents are the
    index stage's own hash, a dependency of every stage that renders the prompt)."""
    document = {
        "template": template_text,
        "system": spec.system,
        "variables": list(spec.variables),
        "completion": spec.completion,
        "chat_format": spec.chat_format,
        "few_shot": [shot.model_dump(mode="json") for shot in spec.few_shot],
    }
    retrieval = getattr(spec, "retrieval", None)
    if retrieval is not None:  # what is retrieved decides the text; absent, older hashes hold
        document["retrieval"] = retrieval.model_dump(mode="json")
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse(prompt: dict[str, Any], source: str | None) -> Prompt:
    try:
        return Prompt.model_validate({"kind": "Prompt", **prompt})
    except ValidationError as exc:
        where = source or f"prompt '{prompt.get('name', '?')}'"
        raise PromptError(
            f"{where}: not a valid Prompt spec ({exc.error_count()} problems: "
            f"{'; '.join(_problem(e) for e in exc.errors()[:3])}); run `llmops validate`"
        ) from None


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _read_template_file(root: Path, rel: str, name: str, source: str | None) -> str:
    owner = f"prompt '{name}'" + (f", {source}" if source else "")
    try:
        path = inside(root, rel, "template_file")
    except PathOutsideProject as exc:
        raise PromptError(f"{rel}: {exc} ({owner})") from None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"{rel}: template_file does not exist ({owner})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{rel}: cannot read template_file: {exc} ({owner})") from None


def _limits(spec: Prompt, source: TemplateSource) -> tuple[int, float]:
    max_chars = spec.limits.get("max_chars", DEFAULT_MAX_CHARS)
    timeout_s = spec.limits.get("timeout_s", DEFAULT_TIMEOUT_S)
    if max_chars < 1 or max_chars != int(max_chars):
        raise source.error(None, f"limits.max_chars must be a whole number above 0, not {max_chars:g}")
    if not timeout_s > 0:
        raise source.error(None, f"limits.timeout_s must be above 0, not {timeout_s:g}")
    return int(max_chars), float(timeout_s)
