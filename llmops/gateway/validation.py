"""Checks on what clients send, before anything reaches the engine or the store.

The engine would reject most of these too, but with a 500 or a FastAPI trace; checking here gives
every client the same clear 4xx naming the field, and keeps junk out of the request log.
Only the fields the gateway relies on (or that are cheap to get wrong) are checked; everything
else passes through to the engine untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from llmops.gateway.errors import ApiError

ROLES = {"system", "user", "assistant", "tool", "developer", "function"}
MAX_CORRECTION = 8000
MAX_COMMENT = 2000
FEEDBACK_FIELDS = {"response_id", "rating", "thumbs", "correction", "comment"}
# Deeper than any real request (tool schemas included): past it a body is refused before anything
# recursive (the JSON encoder for the engine, the checks, the log) walks it.
MAX_JSON_DEPTH = 128
# A JSON "\ud800"-style escape: the only way a body that decoded as UTF-8 can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past `limit` bytes (checked while reading, not after), 400
    when it is not JSON or nests deeper than `MAX_JSON_DEPTH`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # the decoder's own guard, far below any stack overflow
        raise _too_deep() from None
    if json_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _too_deep()
    if _SURROGATE_ESCAPE.search(raw):
        body = _without_surrogates(body)
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {_kind(body)}")
    return body


def json_depth(value: Any, stop: int) -> int:
    """How deep `value` nests (a scalar is 0, `[]` is 1), counted without recursion; stops
    looking once past `stop`."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > stop:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _without_surrogates(value: Any) -> Any:
    """`value` with each lone surrogate (an escaped "\\ud800" with no partner; a valid pair decodes
    to one character) replaced by U+FFFD: no UTF-8 encoder takes it, so the engine or the store
    would fail on it. The depth is already bounded, so the recursion is."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _too_deep() -> ApiError:
    return ApiError(
        400,
        f"the request body nests JSON arrays/objects deeper than {MAX_JSON_DEPTH} levels",
        code="json_too_deep",
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes", code="request_too_large")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_generation(body: dict[str, Any], route: str) -> None:
    """Validate a chat or text completion request (`route` names which)."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ApiError(400, f"'model' must be a string, not {_kind(model)}", param="model")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        if body.get(name) is not None and not (_is_int(body[name]) and body[name] >= 1):
            raise ApiError(400, f"'{name}' must be an integer >= 1, got {body[name]!r}", param=name)
    for name, high in (("temperature", 2.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is not None and not (_is_number(value) and 0 <= value <= high):
            raise ApiError(
                400, f"'{name}' must be a number between 0 and {high:g}, got {value!r}", param=name
            )
    if route == "chat":
        _check_messages(body.get("messages"))
    else:
        prompt = body.get("prompt")
        ok = isinstance(prompt, str) or (
            isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt)
        )
        if not ok:
            raise ApiError(
                400, "'prompt' is required: a string or a non-empty list of strings", param="prompt"
            )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' is required: a non-empty list of messages", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"'{where}' must be an object with 'role' and 'content'", param=where)
        if message.get("role") not in ROLES:
            raise ApiError(
                400, f"'{where}.role' must be one of {', '.join(sorted(ROLES))}", param=f"{where}.role"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise ApiError(
                400, f"'{where}.content' must be a string or a list of parts", param=f"{where}.content"
            )


def request_text(body: dict[str, Any], route: str) -> str:
    """What the user asked, as text: chat message contents joined by newlines, or the prompt(s)."""
    if route != "chat":
        prompt = body.get("prompt")
        return prompt if isinstance(prompt, str) else "\n".join(prompt or [])
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
            )
    return "\n".join(parts)


def check_feedback(body: dict[str, Any]) -> dict[str, Any]:
    """The feedback row's fields from a `POST /v1/feedback` body (not yet redacted)."""
    unknown = sorted(set(body) - FEEDBACK_FIELDS)
    if unknown:
        raise ApiError(
            400,
            f"unknown field(s) {', '.join(unknown)}; feedback takes {', '.join(sorted(FEEDBACK_FIELDS))}",
            param=unknown[0],
        )
    response_id = body.get("response_id")
    if not isinstance(response_id, str) or not 0 < len(response_id) <= 64:
        raise ApiError(
            400, "'response_id' is required: the 'id' of a response from this gateway", param="response_id"
        )
    rating = body.get("rating")
    if rating is not None and not (_is_int(rating) and 1 <= rating <= 5):
        raise ApiError(400, f"'rating' must be an integer from 1 to 5, got {rating!r}", param="rating")
    thumbs = _thumbs(body.get("thumbs"))
    texts = {}
    for name, limit in (("correction", MAX_CORRECTION), ("comment", MAX_COMMENT)):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"'{name}' must be a string", param=name)
        if value is not None and len(value) > limit:
            raise ApiError(400, f"'{name}' is longer than {limit} characters", param=name)
        texts[name] = value or None
    if rating is None and thumbs is None and texts["correction"] is None:
        raise ApiError(400, "feedback needs at least one of 'rating', 'thumbs' or 'correction'")
    return {"response_id": response_id, "rating": rating, "thumbs": thumbs, **texts}


def _thumbs(value: Any) -> int | None:
    if value is None:
        return None
    if value in ("up", "+1", 1) and not isinstance(value, bool):
        return 1
    if value in ("down", "-1", -1) and not isinstance(value, bool):
        return -1
    raise ApiError(400, f'\'thumbs\' must be "up" or "down" (or 1 / -1), got {value!r}', param="thumbs")
