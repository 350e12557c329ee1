"""Chat requests answered through the engine's text completions route.

A Prompt with a text `chat_format` (none, chatml, llama-2, zephyr) is trained and evaluated on the
text llmops itself writes (`Rendered.prompt`); sent as chat messages, the engine would wrap them
in its own chat template and the model would see text it never saw. So a client's
`/v1/chat/completions` request becomes a `/v1/completions` request for that exact text, and the
engine's `text_completion` (or its stream) is turned back into a `chat.completion` (or
`chat.completion.chunk` events) for the client.

The answer is cut as the eval stage cuts its predictions (`llmops.hf.generate.cut_at_stop`): at
the first stop sequence, surrounding whitespace stripped (an engine such as `transformers serve`
returns the stop text itself), in the stream too, so what a client reads is what was scored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from llmops.gateway.errors import ApiError
from llmops.hf.generate import cut_at_stop

# Chat fields the completions API takes as they are (OpenAI's legacy completions parameters).
CARRIED = (
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "n",
    "stream",
    "stream_options",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
)
# Chat features a text prompt cannot honour: refused rather than silently dropped.
UNSUPPORTED = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "logprobs",
    "top_logprobs",
    "audio",
    "modalities",
    "prediction",
)


def check_chat_fields(body: dict[str, Any], chat_format: str) -> None:
    """400 for a chat feature this deployment's text-format prompt cannot serve."""
    for name in UNSUPPORTED:
        if body.get(name) not in (None, False, [], {}):
            raise ApiError(
                400,
                f"'{name}' is not available on this deployment: its prompt is written as text "
                f"(chat_format {chat_format}) and answered through the engine's completions route",
                param=name,
            )


def completion_body(chat: dict[str, Any], prompt: str) -> dict[str, Any]:
    """The `/v1/completions` request for a chat request whose prompt text is `prompt`."""
    body: dict[str, Any] = {name: chat[name] for name in CARRIED if chat.get(name) is not None}
    if "max_tokens" not in body and chat.get("max_completion_tokens") is not None:
        body["max_tokens"] = chat["max_completion_tokens"]
    body["prompt"] = prompt
    return body


def stops_of(chat: dict[str, Any]) -> list[str]:
    stop = chat.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


class TextToChat:
    """Turns one exchange's engine answers (`text_completion`) into chat answers."""

    def __init__(self, stops: list[str], model: str) -> None:
        self.stops = stops
        self.model = model
        self.cutters: dict[int, _Cutter] = {}
        self.finished: set[int] = set()

    # -- a whole answer ------------------------------------------------------------------
    def complete(self, data: dict[str, Any]) -> dict[str, Any]:
        """A `chat.completion` from the engine's `text_completion`."""
        choices = []
        for i, choice in enumerate(data.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            raw = choice.get("text") if isinstance(choice.get("text"), str) else ""
            text = cut_at_stop(raw, self.stops)
            finish = choice.get("finish_reason")
            if any(s in raw for s in self.stops):
                finish = "stop"
            choices.append(
                {
                    "index": choice.get("index", i),
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            )
        answer = {
            "id": data.get("id"),
            "object": "chat.completion",
            "created": data.get("created") or int(time.time()),
            "model": self.model,
            "choices": choices,
        }
        if data.get("usage") is not None:
            answer["usage"] = data["usage"]
        return answer

    # -- a stream ------------------------------------------------------------------------
    def event(self, event: bytes) -> bytes:
        """The chat chunk events (SSE, each ending in a blank line) for one engine event; b"" when
        nothing is due yet (text held back until it cannot be the start of a stop sequence)."""
        out: list[bytes] = []
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                out.extend(self.flush_events())
                out.append(b"data: [DONE]\n\n")
                continue
            try:
                chunk = json.loads(data)
            except (ValueError, RecursionError):
                continue
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk and "choices" not in chunk:  # an engine's error event: as it is
                out.append(b"data: " + data + b"\n\n")
                continue
            out.extend(self._chunk(chunk))
        return b"".join(out)

    def flush_events(self) -> list[bytes]:
        """Text still held for choices the engine never finished (a stream cut short)."""
        out = []
        for index, cutter in sorted(self.cutters.items()):
            if index not in self.finished:
                piece = cutter.finish()
                if piece:
                    out.append(self._sse(self._base({}), [_delta(index, {"content": piece})]))
        return out

    def _chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        base = self._base(chunk)
        choices: list[dict[str, Any]] = []
        for i, choice in enumerate(chunk.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index") if isinstance(choice.get("index"), int) else i
            if index in self.finished:
                continue
            cutter = self.cutters.get(index)
            if cutter is None:
                cutter = self.cutters[index] = _Cutter(self.stops)
                choices.append(_delta(index, {"role": "assistant", "content": ""}))
            piece = cutter.feed(choice.get("text") if isinstance(choice.get("text"), str) else "")
            finish = choice.get("finish_reason")
            if finish or cutter.stopped:
                piece += cutter.finish()
            if piece:
                choices.append(_delta(index, {"content": piece}))
            if finish or cutter.stopped:
                self.finished.add(index)
                choices.append({**_delta(index, {}), "finish_reason": "stop" if cutter.stopped else finish})
        events = [self._sse(base, [c]) for c in choices]
        if isinstance(chunk.get("usage"), dict):
            events.append(self._sse({**base, "usage": chunk["usage"]}, []))
        return events

    def _base(self, chunk: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": chunk.get("id") if isinstance(chunk.get("id"), str) else None,
            "object": "chat.completion.chunk",
            "created": chunk.get("created") if isinstance(chunk.get("created"), int) else int(time.time()),
            "model": self.model,
        }

    @staticmethod
    def _sse(base: dict[str, Any], choices: list[dict[str, Any]]) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices}).encode() + b"\n\n"


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}


class _Cutter:
    """`cut_at_stop` over a stream: text is passed on once no stop sequence can start in it, with
    the answer's leading and trailing whitespace dropped."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.keep = max((len(s) for s in self.stops), default=1) - 1
        self.pending = ""
        self.started = False
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.pending += piece
        found = [at for at in (self.pending.find(s) for s in self.stops) if at != -1]
        if found:
            self.stopped = True
            text, self.pending = self.pending[: min(found)].rstrip(), ""
            return self._lead(text)
        safe = len(self.pending) - self.keep
        text = self.pending[:safe].rstrip() if safe > 0 else ""
        self.pending = self.pending[len(text) :]
        return self._lead(text)

    def finish(self) -> str:
        text, self.pending = self.pending.rstrip(), ""
        return self._lead(text)

    def _lead(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        return text
