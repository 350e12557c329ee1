"""Forwarding of the OpenAI generation routes to the engine, logging each exchange.

A non-streamed answer is parsed once (id, text, token usage), logged, and returned. A streamed one
is passed through event by event as it arrives, while its text and usage are assembled; the last
event is held back until the exchange is committed, so a client never holds a response id whose
log row could still be lost (feedback on it would then be refused).

A retrieval Prompt written as text (see `llmops.gateway.textchat`) sends a chat request to the
engine's completions route; the exchange then converts the answer back to chat on its way out,
and the log keeps the client's request and the answer the client got.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmops.abuse.detect import RATE_LIMITED
from llmops.gateway.abuse import key_of
from llmops.gateway.errors import ApiError, error_response
from llmops.gateway.rag import Augmented, RagFlow
from llmops.gateway.textchat import TextToChat, check_chat_fields, completion_body, stops_of
from llmops.gateway.upstream import engine_model
from llmops.gateway.validation import check_generation, read_json, request_text
from llmops.gateway.writer import RowRejected

if TYPE_CHECKING:
    from llmops.gateway.app import Gateway

UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError)
ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
ERROR_TEXT_LIMIT = 2000


async def forward(gateway: Gateway, request: Request) -> Response:
    """Handle one chat or text completion request end to end."""
    started = time.perf_counter()
    path = request.url.path
    route = ROUTES[path]
    metrics = gateway.metrics
    metrics.inflight_now.inc()
    try:
        key = key_of(request)
        limited = gateway.rate_limited(key, path)
        if limited is not None:  # before the body is read: a flood costs as little as possible
            metrics.observe_abuse(key, [RATE_LIMITED])
            refused = Exchange(gateway, path, route, {}, started, key=key, flags=[RATE_LIMITED])
            refused.error_kind = "rate_limited"
            row = refused.row(429, rid=None, text=None, usage=None, error="rate limit exceeded")
            await refused.commit(row)
            return limited
        try:
            body = await read_json(request, gateway.max_body_bytes)
            check_generation(body, route)
            target = await gateway.upstream.target(gateway.client)
            body["model"] = engine_model(body.get("model"), target, gateway.public_names)
        except ApiError as exc:
            kind = "invalid_request" if exc.status < 500 else "upstream"
            metrics.error(path, kind)
            metrics.observe_request(path, exc.status, time.perf_counter() - started)
            return exc.response()
        flags = await gateway.guard.flags(request_text(body, route), key, time.time())
        metrics.observe_abuse(key, flags)
        exchange = Exchange(gateway, path, route, body, started, key=key, flags=flags)
        if gateway.guard.blocks(flags):
            return await exchange.refuse_prompt()
        if gateway.rag is not None and route == "chat":
            failed = await exchange.augment(gateway.rag)
            if failed is not None:
                return failed
        if body.get("stream"):
            return await exchange.stream(target.url + exchange.upstream_path)
        return await exchange.once(target.url + exchange.upstream_path)
    finally:
        metrics.inflight_now.dec()


class Exchange:
    """One request's trip through the engine and into the log."""

    def __init__(
        self,
        gateway: Gateway,
        path: str,
        route: str,
        body: dict[str, Any],
        started: float,
        *,
        key: str = "anonymous",
        flags: list[str] | None = None,
    ) -> None:
        self.gateway = gateway
        self.key = key  # the API key's name (llmops.gateway.abuse)
        self.flags = flags or []  # abuse flags, logged with the row
        self.error_kind = "upstream"  # what a >= 400 row counts as in the error metric
        self.path = path
        self.route = route
        self.body = body
        self.started = started
        self.payload = json.dumps(body).encode()
        self.upstream_s: float | None = None
        self.rejected: RowRejected | None = None  # set when the store refused this exchange's row
        self.augmented: Augmented | None = None  # a RAG deployment's passages for this request
        self.upstream_path = path  # the engine's route: /v1/completions for a text-format prompt
        self.converter: TextToChat | None = None  # set when a chat is answered from a text prompt

    async def augment(self, rag: RagFlow) -> Response | None:
        """Retrieve and render (see `llmops.gateway.rag`); the engine gets the augmented messages,
        or the prompt text on its completions route for a text chat_format, while the log keeps
        what the client asked. A response when that failed, else None."""
        metrics = self.gateway.metrics
        try:
            if rag.text_format:
                check_chat_fields(self.body, rag.template.chat_format)
            self.augmented = await rag.augment(self.body)
        except ApiError as exc:
            metrics.error(self.path, "invalid_request" if exc.status < 500 else "retrieval")
            if exc.status >= 500:  # the gateway's own failure: the log keeps it, as an engine's
                row = self.row(exc.status, rid=None, text=None, usage=None, error=exc.message)
                if await self.commit(row) is None:
                    return self.not_logged()
            else:
                metrics.observe_request(self.path, exc.status, time.perf_counter() - self.started)
            return exc.response()
        metrics.observe_retrieval(self.augmented.retrieval_ms / 1000, self.augmented.retrieved)
        if self.augmented.prompt is not None:
            self.upstream_path = "/v1/completions"
            self.converter = TextToChat(stops_of(self.body), self.gateway.deployment)
            self.payload = json.dumps(completion_body(self.body, self.augmented.prompt)).encode()
        else:
            self.payload = json.dumps({**self.body, "messages": self.augmented.messages}).encode()
        return None

    def row(self, status: int, *, rid: str | None, text: str | None, usage: Any, error: str | None) -> dict:
        usage = usage if isinstance(usage, dict) else {}
        return {
            "id": rid if isinstance(rid, str) and 0 < len(rid) <= 64 else f"resp-{uuid.uuid4().hex}",
            "created_at": time.time(),
            "deployment": self.gateway.deployment,
            "model": str(self.body.get("model") or self.gateway.deployment)[:200],
            "route": self.path,
            "status_code": status,
            "latency_ms": (time.perf_counter() - self.started) * 1000,
            "upstream_ms": None if self.upstream_s is None else self.upstream_s * 1000,
            "prompt_tokens": _int(usage.get("prompt_tokens")),
            "completion_tokens": _int(usage.get("completion_tokens")),
            "request_text": request_text(self.body, self.route),
            "response_text": text,
            "error": error[:ERROR_TEXT_LIMIT] if error else None,
            "key_id": self.key,
            "abuse": json.dumps(self.flags),
            **self._retrieval_columns(),
        }

    def _retrieval_columns(self) -> dict[str, Any]:
        found = self.augmented
        if found is None:
            return {}
        return {"retrieval_ms": found.retrieval_ms, "retrieved": found.retrieved, "retrieval": found.record}

    async def commit(self, row: dict) -> str | None:
        """Log the row and record its metrics; None when it was not logged: the store refused this
        row (`self.rejected`, the client gets a 422) or the store failed (a 503)."""
        metrics = self.gateway.metrics
        try:
            rid = await self.gateway.writer.log_request(row)
        except RowRejected as exc:
            self.rejected = exc
            metrics.error(self.path, "rejected_row")
            metrics.observe_request(self.path, 422, time.perf_counter() - self.started, self.upstream_s)
            return None
        except Exception:
            metrics.error(self.path, "store")
            return None
        metrics.observe_request(
            self.path, row["status_code"], time.perf_counter() - self.started, self.upstream_s
        )
        metrics.observe_tokens(row["prompt_tokens"], row["completion_tokens"])
        if row["status_code"] >= 400:
            metrics.error(self.path, self.error_kind)
        return rid

    async def refuse_prompt(self) -> Response:
        """`serving.abuse.block`: the flagged request is logged (400) and never reaches the engine."""
        self.error_kind = "prompt_rejected"
        flagged = ", ".join(self.flags)
        error = f"prompt rejected by the abuse screen: {flagged}"
        row = self.row(400, rid=None, text=None, usage=None, error=error)
        if await self.commit(row) is None:
            return self.not_logged()
        return error_response(
            400,
            "this request was refused: it looks like an attempt to override the assistant's instructions "
            "or safety rules",
            code="prompt_rejected",
        )

    async def once(self, url: str) -> Response:
        t0 = time.perf_counter()
        try:
            async with self.gateway.client.post(url, data=self.payload, headers=_JSON) as response:
                status, media, content = response.status, _media(response), await response.read()
        except UPSTREAM_ERRORS as exc:
            return await self.unreachable(exc, t0)
        self.upstream_s = time.perf_counter() - t0
        if status >= 400:
            row = self.row(status, rid=None, text=None, usage=None, error=content.decode(errors="replace"))
            if await self.commit(row) is None:
                return self.not_logged()
            return Response(content, status, media_type=media)
        try:
            data = json.loads(content)
            if self.converter is not None:
                data = self.converter.complete(data)
            text = _choices_text(data.get("choices"), "message" if self.route == "chat" else None)
        except (ValueError, AttributeError, RecursionError) as exc:
            return await self.unreachable(exc, t0, "the engine answered with something that is not JSON")
        row = self.row(status, rid=data.get("id"), text=text, usage=data.get("usage"), error=None)
        rid = await self.commit(row)
        if rid is None:
            return self.not_logged()
        data["id"] = rid
        data["model"] = self.gateway.deployment
        if self.augmented is not None:
            data["citations"] = self.augmented.citations
        return Response(json.dumps(data), status, media_type="application/json")

    def not_logged(self) -> Response:
        if self.rejected is not None:
            return _rejected(self.rejected)
        return _store_down()

    async def unreachable(
        self, exc: Exception, t0: float, what: str = "the engine could not be reached"
    ) -> Response:
        self.upstream_s = time.perf_counter() - t0
        message = f"{what}: {exc}"
        row = self.row(502, rid=None, text=None, usage=None, error=message)
        await self.commit(row)
        return error_response(502, message, type="server_error", code="bad_gateway")

    async def stream(self, url: str) -> Response:
        t0 = time.perf_counter()
        try:
            response = await self.gateway.client.post(url, data=self.payload, headers=_JSON)
        except UPSTREAM_ERRORS as exc:
            return await self.unreachable(exc, t0)
        if response.status >= 400:
            try:
                content = await response.read()
            finally:
                response.release()
            self.upstream_s = time.perf_counter() - t0
            error = content.decode(errors="replace")
            row = self.row(response.status, rid=None, text=None, usage=None, error=error)
            if await self.commit(row) is None:
                return self.not_logged()
            return Response(content, response.status, media_type=_media(response))
        return StreamingResponse(
            self._events(response, t0), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def _events(self, response: aiohttp.ClientResponse, t0: float):  # type: ignore[no-untyped-def]
        assembler = SseAssembler("delta" if self.route == "chat" else None)
        held: list[bytes] = []  # the ending (finish_reason, usage, [DONE]) waits for the commit
        buffer = b""
        convert = self.converter
        try:
            async for chunk in response.content.iter_any():
                buffer += chunk.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    out = event + b"\n\n" if convert is None else convert.event(event)
                    if not out:
                        continue
                    if assembler.feed(out) or held:
                        held.append(out)
                    else:
                        yield out
        except UPSTREAM_ERRORS as exc:
            assembler.error = f"the engine's stream broke: {exc or type(exc).__name__}"
        except BaseException:  # the client went away (cancelled): log what was said, without waiting
            self.upstream_s = time.perf_counter() - t0
            assembler.error = "the client went away before the end of the stream"
            row = self.row(
                499, rid=assembler.id, text=assembler.text(), usage=assembler.usage, error=assembler.error
            )
            self.gateway.writer.log_request_nowait(row)
            self.gateway.metrics.error(self.path, "client_gone")
            raise
        finally:
            response.release()
        self.upstream_s = time.perf_counter() - t0
        if convert is not None:  # the last event without its blank line, and any text still held
            rest = (convert.event(buffer) if buffer.strip() else b"") + b"".join(convert.flush_events())
            buffer = b""
            if rest:
                assembler.feed(rest)
                held.append(rest)
        row = self.row(
            200, rid=assembler.id, text=assembler.text(), usage=assembler.usage, error=assembler.error
        )
        rid = await self.commit(row)
        if rid is None:
            yield _STREAM_REJECTED if self.rejected is not None else _STREAM_STORE_DOWN
            return
        tail = b"".join(held) + (buffer + b"\n\n" if buffer.strip() else b"")
        if assembler.id and rid != assembler.id:
            tail = tail.replace(assembler.id.encode(), rid.encode())
        if self.augmented is not None:
            tail = _with_citations(tail, rid, self.gateway.deployment, self.augmented.citations)
        yield tail


class SseAssembler:
    """Collects a streamed answer's id, text (per choice) and usage from its SSE events."""

    def __init__(self, key: str | None) -> None:
        self.key = key  # "delta" for chat chunks, None for text completions
        self.id: str | None = None
        self.usage: dict | None = None
        self.parts: dict[int, list[str]] = {}
        self.error: str | None = None

    def feed(self, event: bytes) -> bool:
        """Take one event in; True when it belongs to the answer's ending (a finish reason, the
        usage, or [DONE])."""
        ending = False
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                ending = True
            if not data or data == b"[DONE]":
                continue
            try:
                chunk = json.loads(data)
            except (ValueError, RecursionError):
                continue
            if not isinstance(chunk, dict):
                continue
            if self.id is None and isinstance(chunk.get("id"), str):
                self.id = chunk["id"]
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
                ending = True
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                piece = (choice.get(self.key) or {}).get("content") if self.key else choice.get("text")
                if isinstance(piece, str):
                    self.parts.setdefault(_int(choice.get("index")) or 0, []).append(piece)
                if choice.get("finish_reason"):
                    ending = True
        return ending

    def text(self) -> str:
        return "\n".join("".join(self.parts[i]) for i in sorted(self.parts))


def _with_citations(tail: bytes, rid: str, deployment: str, citations: list[dict]) -> bytes:
    """The stream's ending with one more chunk, `{"choices": [], "citations": [...]}`, as the last
    event before `data: [DONE]` (at the very end when the engine sent no [DONE]): it carries the
    response id the client will give feedback on, which is only final once the row is committed."""
    chunk = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": deployment,
        "choices": [],
        "citations": citations,
    }
    event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    done = tail.rfind(b"data: [DONE]")
    if done < 0:
        return tail + event
    return tail[:done] + event + tail[done:]


def _choices_text(choices: Any, key: str | None) -> str:
    texts = []
    for choice in choices or []:
        value = (choice.get(key) or {}).get("content") if key else choice.get("text")
        if isinstance(value, str):
            texts.append(value)
    return "\n".join(texts)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _media(response: aiohttp.ClientResponse) -> str:
    return response.headers.get("content-type", "application/json")


def _store_down() -> Response:
    return error_response(
        503,
        "the gateway could not log this request; try again",
        type="server_error",
        code="store_unavailable",
    )


def _rejected(exc: RowRejected) -> Response:
    return error_response(
        422,
        f"this request could not be logged ({exc}); check its text for invalid characters",
        code="unstorable_request",
    )


_JSON = {"content-type": "application/json"}
_STREAM_REJECTED = (
    b'data: {"error": {"message": "this request could not be logged: the store refused its content", '
    b'"type": "invalid_request_error", "code": "unstorable_request"}}\n\n'
)
_STREAM_STORE_DOWN = (
    b'data: {"error": {"message": "the response could not be logged", "type": "server_error"}}\n\n'
)
