"""Prometheus metrics of one gateway, in a registry of its own (so several gateways, or tests,
can live in one process without sharing counters).

Every label value comes from a closed set: each distinct value is a series kept for the life of
the process, so a value a client controls (a path, a model name, a header) would let anyone grow
the gateway's memory and `/metrics` without bound. Routes outside `ROUTES` count as `other`,
statuses outside 100-599 as `other`, and error kinds outside `ERROR_KINDS` as `other`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

ROUTES = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/feedback", "/metrics", "/health"}
)
ERROR_KINDS = frozenset(
    {
        "invalid_request",
        "auth",
        "upstream",
        "store",
        "rejected_row",
        "unknown_response",
        "client_gone",
        "internal",
        "retrieval",
        "rate_limited",
        "prompt_rejected",
    }
)
OTHER = "other"


def route_label(path: str) -> str:
    """The route's label: the path when it is one of the gateway's routes, else `other`."""
    return path if path in ROUTES else OTHER


def status_label(status: int) -> str:
    return str(status) if isinstance(status, int) and 100 <= status <= 599 else OTHER


# Latency buckets from a cached 5 ms answer to a two-minute CPU generation.
# Retrieval: a cached flat search takes well under a millisecond, a CPU embed tens of ms.
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    """The gateway's counters; every series carries the deployment's name."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self._children: dict[tuple[str, str], tuple] = {}
        self.registry = CollectorRegistry()
        labels = ["deployment"]
        self.requests = Counter(
            "llmops_gateway_requests",
            "Requests answered by the gateway, by route and HTTP status.",
            [*labels, "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmops_gateway_request_duration_seconds",
            "Time from request to response as the client saw it through the gateway.",
            [*labels, "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "llmops_gateway_upstream_duration_seconds",
            "Time spent waiting for the engine.",
            [*labels, "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "llmops_gateway_tokens",
            "Tokens the engine reported, by kind (prompt or completion).",
            [*labels, "kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            "llmops_gateway_errors",
            "Failed requests by route and kind (invalid_request, auth, upstream, store, ...).",
            [*labels, "route", "type"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "llmops_gateway_feedback",
            "Feedback stored, by kind (rating, thumbs_up, thumbs_down, correction, comment).",
            [*labels, "kind"],
            registry=self.registry,
        )
        self.ratings = Counter(
            "llmops_gateway_feedback_rating_sum",
            "Sum of the ratings stored (divide by the rating feedback count for the mean).",
            labels,
            registry=self.registry,
        )
        self.inflight = Gauge(
            "llmops_gateway_inflight_requests", "Requests being served now.", labels, registry=self.registry
        )
        self.batches = Histogram(
            "llmops_gateway_store_batch_rows",
            "Rows committed per store transaction (group commit).",
            labels,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.retrieval_latency = Histogram(
            "llmops_gateway_retrieval_duration_seconds",
            "Time a RAG deployment spent retrieving passages for one request (embed + search).",
            labels,
            buckets=RETRIEVAL_BUCKETS,
            registry=self.registry,
        )
        self.empty_retrievals = Counter(
            "llmops_gateway_empty_retrievals",
            "RAG requests for which the retrieval found no passage (the model answered without context).",
            labels,
            registry=self.registry,
        )
        # Abuse (llmops.abuse): flags from a closed vocabulary, keys named in the spec (or
        # `anonymous`), so neither lets a client grow the series.
        self.abuse_flags = Counter(
            "llmops_gateway_abuse_flags",
            "Requests flagged, by flag (prompt_injection, jailbreak, pii, rate_limited, rate_anomaly).",
            [*labels, "flag"],
            registry=self.registry,
        )
        self.key_requests = Counter(
            "llmops_gateway_key_requests",
            "Requests by API key name (anonymous without a key).",
            [*labels, "key"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "llmops_gateway_rate_limited",
            "Requests refused with 429 by the per-key rate limit, by API key name.",
            [*labels, "key"],
            registry=self.registry,
        )

        self.prompt_tokens = self.tokens.labels(deployment, "prompt")
        self.completion_tokens = self.tokens.labels(deployment, "completion")
        self.inflight_now = self.inflight.labels(deployment)

    def observe_request(
        self, route: str, status: int, seconds: float, upstream_seconds: float | None = None
    ) -> None:
        # `labels()` costs a lock and a tuple build per call; the hot path keeps its children.
        route, status_text = route_label(route), status_label(status)
        children = self._children.get((route, status_text))
        if children is None:
            d = self.deployment
            children = (
                self.requests.labels(d, route, status_text),
                self.latency.labels(d, route),
                self.upstream_latency.labels(d, route),
            )
            self._children[(route, status_text)] = children
        children[0].inc()
        children[1].observe(seconds)
        if upstream_seconds is not None:
            children[2].observe(upstream_seconds)

    def observe_tokens(self, prompt: int | None, completion: int | None) -> None:
        if prompt:
            self.prompt_tokens.inc(prompt)
        if completion:
            self.completion_tokens.inc(completion)

    def error(self, route: str, kind: str) -> None:
        kind = kind if kind in ERROR_KINDS else OTHER
        self.errors.labels(self.deployment, route_label(route), kind).inc()

    def observe_feedback(self, row: dict) -> None:
        d = self.deployment
        if row.get("rating") is not None:
            self.feedback.labels(d, "rating").inc()
            self.ratings.labels(d).inc(row["rating"])
        if row.get("thumbs") is not None:
            self.feedback.labels(d, "thumbs_up" if row["thumbs"] > 0 else "thumbs_down").inc()
        for kind in ("correction", "comment"):
            if row.get(kind):
                self.feedback.labels(d, kind).inc()

    def observe_retrieval(self, seconds: float, passages: int) -> None:
        self.retrieval_latency.labels(self.deployment).observe(seconds)
        empty = self.empty_retrievals.labels(self.deployment)  # exported (at 0) from the first one on
        if passages == 0:
            empty.inc()

    def observe_abuse(self, key: str, flags: list[str]) -> None:
        self.key_requests.labels(self.deployment, key).inc()
        for flag in flags:
            self.abuse_flags.labels(self.deployment, flag).inc()

    def observe_rate_limited(self, key: str) -> None:
        self.rate_limited.labels(self.deployment, key).inc()

    def observe_batch(self, rows: int) -> None:
        self.batches.labels(self.deployment).observe(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)
