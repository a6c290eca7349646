"""Prometheus metrics: HTTP traffic counted by a pure ASGI middleware, the job queue read at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opora.jobs.service import QueueStats
from opora.ops.collector import CollectorStats

__all__ = [
    "CONTENT_TYPE_LATEST",
    "Metrics",
    "MetricsMiddleware",
    "collector_families",
    "job_families",
    "route_template",
]

# Label values must come from a small fixed set, or a scanner sending random paths and verbs
# would create a new time series per request.
UNMATCHED = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


class Metrics:
    """The metrics of one app instance.

    Each app gets its own registry: the process-wide default one refuses a second metric of the
    same name, and tests build many apps in one process.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "opora_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "opora_http_request_duration_seconds",
            "Time from the request to the end of its response (a live stream counts until it closes).",
            labels,
            registry=self.registry,
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self, extra: Iterable[Metric] = ()) -> bytes:
        """The text exposition of this app's registry plus families computed for this scrape only."""
        scrape = CollectorRegistry()
        scrape.register(_Fixed(list(extra)))
        return generate_latest(self.registry) + generate_latest(scrape)


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def job_families(stats: QueueStats) -> list[Metric]:
    jobs = GaugeMetricFamily("opora_jobs", "Jobs in the queue table, by state.", labels=["state"])
    for state, count in sorted(stats.counts.items()):
        jobs.add_metric([state], count)
    lag = GaugeMetricFamily(
        "opora_jobs_queue_lag_seconds", "Age of the oldest job that is due and still waiting for a worker."
    )
    lag.add_metric([], stats.lag_seconds)
    return [jobs, lag]


def collector_families(stats: CollectorStats) -> list[Metric]:
    """The serving collector's work (ADR 43); Python's own per-generation counts are in
    ``python_gc_collections_total``, where a minor counts as a generation-2 collection."""
    runs = CounterMetricFamily(
        "opora_gc_collections", "Collections run by the serving collector policy.", labels=["kind"]
    )
    runs.add_metric(["minor"], stats.minors)
    runs.add_metric(["major"], stats.majors)
    pause = GaugeMetricFamily(
        "opora_gc_last_pause_seconds", "Duration of the latest collection of each kind.", labels=["kind"]
    )
    pause.add_metric(["minor"], stats.last_minor_seconds)
    pause.add_metric(["major"], stats.last_major_seconds)
    return [runs, pause]


def route_template(scope: Scope) -> str:
    """The path pattern the router matched ("/api/v1/agents/{agent_id}"), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Stays 500 when an exception escapes before the answer starts: the server error
        # middleware outside this one turns it into a 500.
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_request(
                method=scope["method"],
                route=route_template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )
