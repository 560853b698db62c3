"""Prometheus metrics of one server: request latency per route, events, lists served, model.

Each app has its own registry, so two apps in one process (tests) never share counters.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.engine.engine import Engine, Recommendations
from attune.feedback import Tally
from attune.server.timeline import Timeline
from attune.stores import unavailable_errors

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Recommend and single-event ingest take about a millisecond; batches and cold paths longer.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

_RATE_LIMITED = "Requests refused with 429 because the caller's bucket was empty, per route class."
_BY_CLASS = ("route_class",)
_TIMED_OUT = "Requests answered 503 because no response had started within request_timeout_s."
_UNAVAILABLE = "Requests answered 503 because the store could not be reached (down or silent)."


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
        self.events_duplicate = Counter(
            "attune_events_duplicate",
            "Events acknowledged without being applied: their event id was already logged.",
            registry=r,
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
        self.model_load_failures = Counter(
            "attune_model_load_failures",
            "Promoted model versions that could not be loaded (the previous one kept serving).",
            registry=r,
        )
        self.users = Gauge("attune_users_known", "User ids known to the store.", registry=r)
        self.items = Gauge("attune_items_known", "Item ids known to the store.", registry=r)
        self.user_states = Gauge(
            "attune_user_states", "Users with an interest state in memory.", registry=r
        )
        self.refresh_backlog = Gauge(
            "attune_refresh_backlog_users",
            "Users whose events are folded in but whose V_u awaits the background refresh "
            "(after bulk ingests; reads refresh such a user on the spot).",
            registry=r,
        )
        self.rate_limited = Counter("attune_rate_limited", _RATE_LIMITED, _BY_CLASS, registry=r)
        self.request_timeouts = Counter("attune_request_timeouts", _TIMED_OUT, registry=r)
        self.store_unavailable = Counter("attune_store_unavailable", _UNAVAILABLE, registry=r)
        self.feedback = FeedbackCollector()
        r.register(self.feedback)
        self.timeline = Timeline()
        """Per-second events and recommendation latency of the last minutes (the console)."""

    def bind(self, engine: Engine) -> None:
        """Read the gauges from `engine` at scrape time."""
        self.model_version.set_function(lambda: engine.model.version)
        self.users.set_function(_unless_unreachable(lambda: len(engine.store.users)))
        self.items.set_function(_unless_unreachable(lambda: len(engine.store.items)))
        if engine.store.single_process:
            self.user_states.set_function(_unless_unreachable(lambda: len(engine.states)))
        else:  # counting them in a shared store walks every key: not at each scrape
            self.user_states.set_function(lambda: math.nan)
        self.refresh_backlog.set_function(lambda: engine.refresh_backlog)
        self.feedback.source = lambda: engine.feedback.tally()

    def served(self, recs: Recommendations) -> None:
        self.recommendations.labels(recs.source).inc()
        # One increment per reason kind, not per item: each costs a lock and a label lookup.
        for kind, n in collections.Counter(r.reason.kind for r in recs.items).items():
            self.recommended_items.labels(kind).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _unless_unreachable(read: Callable[[], float]) -> Callable[[], float]:
    """`read`, or NaN while the store cannot be reached (a scrape during an outage still
    returns the process's own counters)."""

    def reading() -> float:
        try:
            return read()
        except unavailable_errors():
            return math.nan

    return reading


class FeedbackCollector(Collector):
    """Impressions, clicks and conversions per model version and reason, read from the
    engine's feedback counts at scrape time (they include lists served before a restart)."""

    def __init__(self) -> None:
        self.source: Callable[[], Tally] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        try:
            tally = self.source()
        except unavailable_errors():  # the store is down: the rest of the scrape still answers
            return
        by_version = ["model_version"]
        by_reason = ["model_version", "reason"]
        lists = CounterMetricFamily(
            "attune_impressions", "Lists served and logged, per model version.", labels=by_version
        )
        items = CounterMetricFamily(
            "attune_impression_items", "Items shown in logged lists.", labels=by_reason
        )
        clicks = CounterMetricFamily(
            "attune_feedback_clicks",
            "Shown items clicked (each list item once at most).",
            labels=by_reason,
        )
        conversions = CounterMetricFamily(
            "attune_feedback_conversions",
            "Shown items converted (each list item once at most).",
            labels=by_reason,
        )
        for version, n in sorted(tally.lists.items()):
            lists.add_metric([str(version)], n)
        for (version, reason), c in sorted(tally.by_reason.items()):
            labels = [str(version), reason]
            items.add_metric(labels, c.items)
            clicks.add_metric(labels, c.clicks)
            conversions.add_metric(labels, c.conversions)
        unattributed = CounterMetricFamily(
            "attune_feedback_unattributed",
            "Events naming a recommendation id that joined no shown item.",
            value=tally.unattributed,
        )
        untagged = CounterMetricFamily(
            "attune_feedback_untagged",
            "Events naming no recommendation id on an item their user was shown inside the "
            "attribution window: they could have named the list.",
            value=tally.untagged,
        )
        yield from (lists, items, clicks, conversions, unattributed, untagged)


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
            elapsed = self.clock() - start
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(elapsed)
            if status < 400 and template.endswith("/recommendations"):
                self.metrics.timeline.recommended(elapsed)
