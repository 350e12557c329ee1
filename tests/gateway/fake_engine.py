"""A fast, deterministic OpenAI-compatible engine for gateway tests and the load benchmark.

It answers "echo: <last user text>" (PII included, so the gateway's redaction of responses is
tested too), reports token usage as word counts, streams one word per SSE event, and misbehaves
on request: a prompt containing ENGINE-FAIL gets a 500, DUP-ID gets an id already used,
SLOW-STREAM streams a word every 50 ms. `GET /_requests` lists the last request bodies it got
(`{"path", "body"}`, oldest first), so tests can check exactly what the gateway sent.
Run as a script (`python fake_engine.py --port N [--delay-ms D]`) or import `app`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = os.environ.get("FAKE_ENGINE_MODEL", "fake-model")
DELAY_S = float(os.environ.get("FAKE_ENGINE_DELAY_MS", "0")) / 1000
RECEIVED: collections.deque = collections.deque(maxlen=64)


def _prompt(body: dict, chat: bool) -> str:
    if chat:
        users = [m.get("content") for m in body["messages"] if m.get("role") == "user"]
        return str(users[-1] if users else "")
    prompt = body["prompt"]
    return prompt if isinstance(prompt, str) else " ".join(prompt)


async def _complete(request: Request) -> Response:
    chat = request.url.path.endswith("/chat/completions")
    body = await request.json()
    RECEIVED.append({"path": request.url.path, "body": body})
    if body.get("model") != MODEL:
        return JSONResponse(
            {"detail": f"Server is pinned to '{MODEL}'; requested {body.get('model')!r}."}, 400
        )
    prompt = _prompt(body, chat)
    if "ENGINE-FAIL" in prompt:
        return JSONResponse({"error": {"message": "engine exploded", "type": "server_error"}}, 500)
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    rid = "dup-id" if "DUP-ID" in prompt else f"cmpl-{uuid.uuid4().hex}"
    words = ("echo: " + prompt).split(" ")
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(words)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    created = int(time.time())
    if body.get("stream"):
        pause = 0.05 if "SLOW-STREAM" in prompt else 0.0
        events = _stream(rid, words, usage, chat, created, pause)
        return StreamingResponse(events, media_type="text/event-stream")
    choice = {"index": 0, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": " ".join(words)}
    else:
        choice["text"] = " ".join(words)
    kind = "chat.completion" if chat else "text_completion"
    return JSONResponse(
        {"id": rid, "object": kind, "created": created, "model": MODEL, "choices": [choice], "usage": usage}
    )


async def _stream(rid: str, words: list[str], usage: dict, chat: bool, created: int, pause: float):  # type: ignore[no-untyped-def]
    kind = "chat.completion.chunk" if chat else "text_completion"
    for i, word in enumerate(words):
        if pause:
            await asyncio.sleep(pause)
        piece = word if i == 0 else " " + word
        choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
        yield f"data: {json.dumps({'id': rid, 'object': kind, 'created': created, 'choices': [choice]})}\n\n"
    last = {"index": 0, "finish_reason": "stop", **({"delta": {}} if chat else {"text": ""})}
    chunk = {"id": rid, "object": kind, "created": created, "choices": [last], "usage": usage}
    yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


async def _requests(_request: Request) -> Response:
    return JSONResponse(list(RECEIVED))


async def _models(_request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fake"}]})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", _complete, methods=["POST"]),
        Route("/v1/completions", _complete, methods=["POST"]),
        Route("/v1/models", _models, methods=["GET"]),
        Route("/_requests", _requests, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)
