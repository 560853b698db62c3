"""Prometheus metrics of one server: request latency per route, events, lists served, model.

Each app has its own registry, so two apps in one process (tests) never share counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.engine.engine import Engine, Recommendations

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Recommend and single-event ingest take about a millisecond; batches and cold paths longer.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(self) -> None:
        disable_created_metrics()  # `*_created` series double the output and nobody reads them
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "attune_http_request_duration_seconds",
            "Time from request received to response sent, per route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.events_ingested = Counter(
            "attune_events_ingested", "Events accepted into the log.", registry=r
        )
        self.events_rejected = Counter(
            "attune_events_rejected", "Events rejected, per field at fault.", ["field"], registry=r
        )
        self.recommendations = Counter(
            "attune_recommendations_served",
            "Recommendation lists served, per source (model, attributes, popularity).",
            ["source"],
            registry=r,
        )
        self.recommended_items = Counter(
            "attune_recommended_items",
            "Items served in lists, per reason kind (similar, popular, exploration, ...).",
            ["reason"],
            registry=r,
        )
        self.model_version = Gauge(
            "attune_model_version", "Version of the model being served.", registry=r
        )
        self.users = Gauge("attune_users_known", "User ids known to the store.", registry=r)
        self.items = Gauge("attune_items_known", "Item ids known to the store.", registry=r)
        self.user_states = Gauge(
            "attune_user_states", "Users with an interest state in memory.", registry=r
        )

    def bind(self, engine: Engine) -> None:
        """Read the gauges from `engine` at scrape time."""
        self.model_version.set_function(lambda: engine.model.version)
        self.users.set_function(lambda: len(engine.store.users))
        self.items.set_function(lambda: len(engine.store.items))
        self.user_states.set_function(lambda: len(engine.states))

    def served(self, recs: Recommendations) -> None:
        self.recommendations.labels(recs.source).inc()
        for r in recs.items:
            self.recommended_items.labels(r.reason.kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """ASGI middleware observing each request's latency under its route template (unmatched
    paths share one label, so random URLs cannot grow the series without bound)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, clock: Callable[[], float] | None = None):
        self.app = app
        self.metrics = metrics
        self.clock = clock or time.perf_counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = self.clock()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                self.clock() - start
            )
