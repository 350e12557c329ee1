"""Retrieval-augmented chat: the Deployment's Prompt, with passages retrieved per request.

When a Deployment names a Prompt with a `retrieval` block, `llmops serve` opens a `RagFlow` once at
startup and every `/v1/chat/completions` request goes through it before the engine sees it:

1. the text of the last user message is the Prompt's `query` variable; the Prompt's other
   variables (and those that `filter_from` reads: one not sent is not filtered on, as in the
   stages) come from the request's optional `"variables": {name: value}` object, which the
   engine never sees;
2. the passages are retrieved with the same `Augmenter` the prompt, tune and eval stages use
   (top_k, filters, filter_from, min_score, rerank), so what is served is what was evaluated;
3. the Prompt renders the user turn with the passages; its system text and few-shot turns come
   first, the client's earlier turns are kept, and the last user message becomes the rendered turn.
   A Prompt whose `chat_format` writes text (none, chatml, llama-2, zephyr) is answered from that
   text (`Augmented.prompt`: for a one-turn request exactly `Rendered.prompt`, the text the eval
   stage generates from) through the engine's completions route (`llmops.gateway.textchat`);
   only `chat_format: tokenizer` sends the messages to the engine's chat route;
4. the answer carries a top-level `citations` list (`[{id, doc_id, source, title, score}]`), and
   the request row keeps the passage ids, scores and the retrieval time.

Embedding a query is CPU-bound (torch), so it runs on a small thread pool of its own, never on
the event loop. The passage finder is anything with `augment(rows) -> rows` (A2's `Augmenter`);
tests hand in a fake. `/v1/completions` is passed through unchanged: a raw prompt has no turn to
augment.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmops.gateway.errors import ApiError

VARIABLES_FIELD = "variables"  # the request field holding the Prompt's other variables
MAX_VARIABLE_CHARS = 100_000


class PassageFinder(Protocol):
    """What retrieves passages: `llmops.retrieval.augment.Augmenter` or a test's fake."""

    def augment(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class Renderer(Protocol):
    """What renders the Prompt: `llmops.prompting.render.PromptTemplate`."""

    variables: tuple[str, ...]
    chat_format: str

    def render(self, variables: dict[str, Any], *, during: str = "") -> Any: ...


@dataclass(frozen=True)
class RagSettings:
    """The fields of the Prompt's `retrieval` block the gateway itself reads."""

    index: str
    query: str
    variable: str
    top_k: int

    @classmethod
    def of(cls, retrieval: Any) -> RagSettings:
        """From the Prompt's `Retrieval` model or its fields as a dict."""

        def get(name: str, default: Any = None) -> Any:
            value = retrieval.get(name) if isinstance(retrieval, dict) else getattr(retrieval, name, None)
            return default if value is None else value

        return cls(
            index=str(get("index", "")),
            query=str(get("query")),
            variable=str(get("variable", "passages")),
            top_k=int(get("top_k", 4)),
        )


@dataclass
class Augmented:
    """One request made ready for the engine, and what the answer and the log carry."""

    messages: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    retrieval_ms: float
    record: dict[str, Any]  # the `retrieval` column: index, top_k, passage ids and scores
    prompt: str | None = None  # the prompt text, for a text chat_format (None: send `messages`)

    @property
    def retrieved(self) -> int:
        return len(self.citations)


class RagFlow:
    """Retrieve, render, cite: one per gateway. `close()` stops its thread pool."""

    def __init__(
        self, template: Renderer, settings: RagSettings, finder: PassageFinder, *, workers: int = 2
    ) -> None:
        self.template = template
        self.settings = settings
        self.finder = finder
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmops-rag")

    @classmethod
    def open(cls, prompt: Any, index_dir: Path, root: Path, *, workers: int = 2) -> RagFlow:
        """From the Deployment's Prompt spec (typed or its fields) and the index folder. Loads the
        embedding model and the index now, so a broken index fails `llmops serve` at startup."""
        from llmops.prompting.render import PromptTemplate
        from llmops.retrieval.augment import Augmenter

        retrieval = prompt.get("retrieval") if isinstance(prompt, dict) else prompt.retrieval
        if retrieval is None:
            raise ValueError("the prompt has no retrieval block")
        template = PromptTemplate.from_config(prompt, root)
        settings = RagSettings.of(retrieval)
        finder = Augmenter(retrieval, index_dir, root)
        # One search now: the first request should not pay for torch's lazy initialisation
        # (measured ~3x the steady retrieval time with a small model on CPU).
        finder.augment([{settings.query: "warm up"}])
        return cls(template, settings, finder, workers=workers)

    @property
    def text_format(self) -> bool:
        """Whether the Prompt writes its own text (answered through the completions route)."""
        return self.template.chat_format != "tokenizer"

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.finder, "close", None)
        if callable(close):
            close()

    async def augment(self, body: dict[str, Any]) -> Augmented:
        """The request's messages augmented (ApiError 400 for what the client must fix, 500 when
        the retrieval itself failed)."""
        variables = self._variables(body)
        messages = body["messages"]
        last = _last_user(messages)
        if last is None:
            raise ApiError(
                400,
                "this deployment answers from its knowledge index: send a message with role 'user' "
                "(its text is the search query)",
                param="messages",
            )
        variables[self.settings.query] = _text(messages[last].get("content"))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._prepare, messages, last, variables)

    def _variables(self, body: dict[str, Any]) -> dict[str, Any]:
        given = body.pop(VARIABLES_FIELD, None)
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise ApiError(
                400, f"'{VARIABLES_FIELD}' must be an object of prompt variables", param=VARIABLES_FIELD
            )
        declared = set(self.template.variables) - {self.settings.query, self.settings.variable}
        unknown = sorted(set(given) - declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise ApiError(
                400,
                f"unknown prompt variable(s) {', '.join(unknown)} in '{VARIABLES_FIELD}'; this deployment's "
                f"prompt takes {known} (the last user message is '{self.settings.query}')",
                param=VARIABLES_FIELD,
            )
        for name, value in given.items():
            if not isinstance(value, (str, int, float, bool)) or len(str(value)) > MAX_VARIABLE_CHARS:
                raise ApiError(
                    400,
                    f"'{VARIABLES_FIELD}.{name}' must be a string or number of at most "
                    f"{MAX_VARIABLE_CHARS} characters",
                    param=f"{VARIABLES_FIELD}.{name}",
                )
        return dict(given)

    def _prepare(self, messages: list[dict[str, Any]], last: int, variables: dict[str, Any]) -> Augmented:
        """In the thread pool: retrieve, then render."""
        from llmops.prompting import chat
        from llmops.prompting.sandbox import PromptError

        started = time.perf_counter()
        try:
            row = self.finder.augment([variables])[0]
        except Exception as exc:
            raise ApiError(
                500,
                f"the retrieval from index '{self.settings.index}' failed: {type(exc).__name__}: {exc}",
                type="server_error",
                code="retrieval_failed",
            ) from exc
        retrieval_ms = (time.perf_counter() - started) * 1000
        passages = list(row.get(self.settings.variable) or [])
        try:
            rendered = self.template.render(row, during="gateway request")
        except PromptError as exc:
            raise ApiError(
                400, f"the deployment's prompt could not be rendered for this request: {exc}"
            ) from None
        citations = [_citation(p) for p in passages]
        record = {
            "index": self.settings.index,
            "top_k": self.settings.top_k,
            "passages": [{"id": c["id"], "doc_id": c["doc_id"], "score": c["score"]} for c in citations],
        }
        merged = _merge(rendered.messages, messages, last)
        prompt = None
        if self.text_format:
            # One turn and no system text of the client's: the very text the eval stage generates
            # from. A longer conversation is written the same way, in the Prompt's format.
            try:
                prompt = (
                    rendered.prompt
                    if merged == rendered.messages
                    else chat.format_prompt(self.template.chat_format, merged)
                )
            except chat.ChatFormatError as exc:
                raise ApiError(
                    400,
                    f"this conversation cannot be written in the prompt's chat_format "
                    f"{self.template.chat_format}: {exc}",
                    param="messages",
                ) from None
        return Augmented(merged, citations, retrieval_ms, record, prompt)


def _citation(passage: dict[str, Any]) -> dict[str, Any]:
    score = passage.get("score")
    return {
        "id": passage.get("id"),
        "doc_id": passage.get("doc_id"),
        "source": passage.get("source"),
        "title": passage.get("title"),
        "score": None if score is None else round(float(score), 6),
    }


def _last_user(messages: list[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
        )
    return ""


def _merge(rendered: list[dict[str, Any]], client: list[dict[str, Any]], last: int) -> list[dict[str, Any]]:
    """The Prompt's system text (the client's own system text appended to it) and few-shot turns,
    then the client's earlier turns, the rendered user turn, and whatever the client sent after it."""
    system = [m for m in rendered[:-1] if m.get("role") == "system"]
    shots = [m for m in rendered[:-1] if m.get("role") != "system"]
    client_system = [_text(m.get("content")) for m in client if m.get("role") in ("system", "developer")]
    history = [m for m in client[:last] if m.get("role") not in ("system", "developer")]
    after = [m for m in client[last + 1 :] if m.get("role") not in ("system", "developer")]
    if system and client_system:
        system = [{"role": "system", "content": "\n\n".join([system[0]["content"], *client_system])}]
    elif client_system:
        system = [{"role": "system", "content": "\n\n".join(client_system)}]
    return [*system, *shots, *history, {"role": "user", "content": rendered[-1]["content"]}, *after]
