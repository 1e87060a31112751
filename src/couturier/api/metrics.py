"""``GET /metrics``: the service's figures in Prometheus' text format (``prometheus-client``).

Each application has its own registry (never the library's global one), so two applications in
one process (the tests') count apart. What is counted:

- ``couturier_http_requests_total{route, method, status}`` and
  ``couturier_http_request_duration_seconds{route, method}``: every request, by its route
  *template* (``/v1/bundles/{bundle}``, never the path a client sent: a tenant's names do not
  become labels; a path that matches no route is ``unmatched``);
- ``couturier_builds{status}`` and ``couturier_jobs{state}`` (``queued`` is the queue's depth),
  read from the database at each scrape, over every tenant; ``couturier_database_up`` is 0 when
  the database does not answer (the other figures are then left out, not made up).

The answer needs no token: it holds counts, no tenant's names or ids. Keep it, as the rest of
the service, behind the network's own rules (scrape it from inside).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couturier.api.auth import installation_of
from couturier.errors import CouturierError
from couturier.services import metrics as metrics_service
from couturier.services.installation import Installation

__all__ = ["install_metrics", "router"]

router = APIRouter(tags=["health"])
_UNMATCHED = "unmatched"


class _StoreCollector(Collector):
    """Builds by status and jobs by state, read from the database when scraped."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("couturier_database_up", "1 when the database answered")
        try:
            counts = metrics_service.store_counts(self.installation)
        except CouturierError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        builds = GaugeMetricFamily("couturier_builds", "builds by status", labels=["status"])
        for status, count in sorted(counts.builds.items()):
            builds.add_metric([status], count)
        yield builds
        jobs = GaugeMetricFamily(
            "couturier_jobs", "jobs by state (queued: the queue's depth)", labels=["state"]
        )
        for state, count in sorted({"queued": 0, **counts.jobs}.items()):
            jobs.add_metric([state], count)
        yield jobs


class _Measured:
    """ASGI middleware counting and timing every HTTP request by route template."""

    def __init__(self, app: ASGIApp, requests: Counter, durations: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.durations = durations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED
            method = str(scope.get("method", ""))[:10]
            self.requests.labels(template, method, str(status[0])).inc()
            self.durations.labels(template, method).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, installation: Installation) -> None:
    """Give ``app`` its own registry, the request middleware and ``GET /metrics``."""
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "couturier_http_requests",
        "HTTP requests by route template, method and status",
        ["route", "method", "status"],
        registry=registry,
    )
    durations = Histogram(
        "couturier_http_request_duration_seconds",
        "HTTP request durations by route template and method",
        ["route", "method"],
        registry=registry,
    )
    registry.register(_StoreCollector(installation))
    app.state.metrics = registry
    app.add_middleware(_Measured, requests=requests, durations=durations)
    app.include_router(router)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """The service's figures in Prometheus' text format; no token needed (counts only)."""
    installation_of(request)  # the application's own
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
