"""The gateway application: OpenAI-compatible routes forwarded to the engine, plus feedback,
Prometheus metrics and health, behind optional API keys (one, or several named ones so traffic is
logged, rate-limited and monitored per key: `llmops.gateway.abuse`).

`build_app(Gateway(...))` gives a Starlette ASGI app; its lifespan opens the store's writer and
the HTTP client to the engine and, on shutdown (after uvicorn has finished the requests in
flight), drains the writer so that nothing acknowledged or queued is lost.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from llmops.abuse.ratelimit import retry_after
from llmops.gateway.abuse import DEFAULT_KEY, STATE_KEY, AbuseGuard, default_guard, key_of, match_key
from llmops.gateway.errors import ApiError, error_response
from llmops.gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from llmops.gateway.proxy import forward
from llmops.gateway.rag import RagFlow
from llmops.gateway.upstream import Upstream
from llmops.gateway.validation import check_feedback, read_json
from llmops.gateway.writer import RowRejected, UnknownResponse, Writer

OPEN_PATHS = frozenset({"/health"})  # everything else needs the key when one is set
FEEDBACK_BODY_LIMIT = 64 * 1024


@dataclass
class Gateway:
    """What one gateway serves, and the state its routes share."""

    deployment: str
    engine: sa.Engine  # the store, from `llmops.feedback_db.store.connect`
    upstream: Upstream
    api_key: str | None = None
    max_body_bytes: int = 1 << 20
    served_name: str | None = None  # the engine's public name, if it differs from the deployment's
    engine_timeout_s: float = 600.0
    rag: RagFlow | None = None  # the Deployment's retrieval Prompt, when it has one
    api_keys: dict[str, str] = field(default_factory=dict)  # key name -> key (`serving.api_keys_env`)
    guard: AbuseGuard = field(default_factory=default_guard)  # rate limits and abuse flags
    metrics: GatewayMetrics = field(init=False)
    writer: Writer = field(init=False)
    client: aiohttp.ClientSession = field(init=False)
    public_names: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = GatewayMetrics(self.deployment)
        self.public_names = {self.deployment} | ({self.served_name} if self.served_name else set())
        self.writer = Writer(self.engine, on_batch=self.metrics.observe_batch)
        if self.api_key:
            self.api_keys = {DEFAULT_KEY: self.api_key, **self.api_keys}

    def rate_limited(self, key: str, route: str) -> Response | None:
        """A 429 with Retry-After when `key` is over its rate limit, else None (a token taken)."""
        limiter = self.guard.limiter
        wait = limiter.take(key) if limiter is not None else 0.0
        if not wait:
            return None
        self.metrics.observe_rate_limited(key)
        limit = limiter.limit(key)  # type: ignore[union-attr]
        return error_response(
            429,
            f"rate limit exceeded for key '{key}' ({limit.requests_per_minute:g} requests per minute, "
            f"burst {limit.burst}); retry later",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"retry-after": retry_after(wait)},
        )


def build_app(gateway: Gateway) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        gateway.writer.start()
        # aiohttp rather than httpx for the engine hop: under 32+ concurrent requests httpx's
        # connection pool cost ~20x the engine's own time on this CPU (measured: 388 ms vs 17 ms).
        connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=gateway.engine_timeout_s, sock_connect=10.0)
        gateway.client = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)
        try:
            yield
        finally:
            await gateway.client.close()
            gateway.writer.close()
            if gateway.rag is not None:
                gateway.rag.close()

    async def generation(request: Request) -> Response:
        return await forward(gateway, request)

    async def models(_request: Request) -> Response:
        try:
            target = await gateway.upstream.target(gateway.client)
        except ApiError as exc:
            return exc.response()
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "llmops"}
            for name in sorted(gateway.public_names)
        ]
        data += [
            {"id": m, "object": "model", "created": 0, "owned_by": "engine"}
            for m in target.models
            if m not in gateway.public_names
        ]
        return JSONResponse({"object": "list", "data": data})

    async def post_feedback(request: Request) -> Response:
        started = time.perf_counter()
        limited = gateway.rate_limited(key_of(request), "/v1/feedback")
        if limited is not None:
            gateway.metrics.error("/v1/feedback", "rate_limited")
            gateway.metrics.observe_request("/v1/feedback", 429, time.perf_counter() - started)
            return limited
        try:
            row = check_feedback(await read_json(request, FEEDBACK_BODY_LIMIT))
        except ApiError as exc:
            gateway.metrics.error("/v1/feedback", "invalid_request")
            gateway.metrics.observe_request("/v1/feedback", exc.status, time.perf_counter() - started)
            return exc.response()
        row["created_at"] = time.time()
        try:
            feedback_id = await gateway.writer.add_feedback(row)
        except UnknownResponse:
            gateway.metrics.error("/v1/feedback", "unknown_response")
            gateway.metrics.observe_request("/v1/feedback", 404, time.perf_counter() - started)
            return error_response(
                404,
                f"no response with id '{row['response_id']}' was served by this gateway "
                "(use the 'id' field of a chat or text completion)",
                param="response_id",
                code="response_not_found",
            )
        except RowRejected as exc:
            gateway.metrics.error("/v1/feedback", "rejected_row")
            gateway.metrics.observe_request("/v1/feedback", 422, time.perf_counter() - started)
            return error_response(
                422,
                f"this feedback could not be stored ({exc}); check its text for invalid characters",
                code="unstorable_feedback",
            )
        except Exception:
            gateway.metrics.error("/v1/feedback", "store")
            return error_response(503, "the feedback could not be stored; try again", type="server_error")
        gateway.metrics.observe_feedback(row)
        gateway.metrics.observe_request("/v1/feedback", 201, time.perf_counter() - started)
        body = {"id": feedback_id, "object": "feedback", "response_id": row["response_id"]}
        return Response(json.dumps(body), 201, media_type="application/json")

    async def metrics(_request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def health(_request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "deployment": gateway.deployment, "engine": gateway.upstream.describe()}
        )

    async def not_found(request: Request, _exc: Exception) -> Response:
        return error_response(404, f"no route {request.method} {request.url.path}", code="not_found")

    async def not_allowed(request: Request, _exc: Exception) -> Response:
        return error_response(
            405, f"{request.method} is not allowed on {request.url.path}", code="method_not_allowed"
        )

    async def crashed(request: Request, exc: Exception) -> Response:
        gateway.metrics.error(request.url.path, "internal")
        return error_response(500, f"internal gateway error: {type(exc).__name__}", type="server_error")

    routes = [
        Route("/v1/chat/completions", generation, methods=["POST"]),
        Route("/v1/completions", generation, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/feedback", post_feedback, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed, 500: crashed},
    )
    if gateway.api_keys:
        return ApiKeyAuth(app, gateway.api_keys, gateway.metrics)
    return app


class ApiKeyAuth:
    """Plain ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): requires
    `Authorization: Bearer <key>` with one of the keys on every route but /health, compared in
    constant time, and leaves the key's name in the scope's state for logging and rate limits."""

    def __init__(self, app: ASGIApp, keys: dict[str, str], metrics: GatewayMetrics) -> None:
        self.app = app
        self.expected = {name: b"Bearer " + key.encode() for name, key in keys.items()}
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        name = match_key(given, self.expected)
        if name is not None:
            scope.setdefault("state", {})[STATE_KEY] = name
            await self.app(scope, receive, send)
            return
        self.metrics.error(scope["path"], "auth")  # any path not a route counts as "other"
        message = "missing API key" if not given else "invalid API key"
        response = error_response(
            401,
            f"{message}: send 'Authorization: Bearer <key>' with the key that the deployment's "
            "serving.api_key_env (or api_keys_env) names",
            code="invalid_api_key",
            headers={"www-authenticate": "Bearer"},
        )
        await response(scope, receive, send)
