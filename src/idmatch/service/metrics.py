"""Prometheus metrics. With several workers set PROMETHEUS_MULTIPROC_DIR (``idmatch serve`` does)."""
from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("idmatch_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("idmatch_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DECISIONS = Counter("idmatch_decisions_total", "Session decisions", ["outcome", "by"])
MODEL_SECONDS = Histogram("idmatch_model_seconds", "Time in model stages", ["stage"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def observe_timings(timings_ms: dict[str, float]) -> None:
    for k, v in timings_ms.items():
        stage = k.split("_", 1)[1] if k.startswith(("id_", "live_")) else k
        if stage == "total":
            continue
        MODEL_SECONDS.labels(stage=stage).observe(v / 1e3)


async def middleware(request: Request, call_next):
    t0 = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, path, str(status)).inc()
        LATENCY.labels(path).observe(time.perf_counter() - t0)


def render() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, media_type=CONTENT_TYPE_LATEST)
