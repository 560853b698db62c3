"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from attune.engine.engine import Engine
from attune.schemas.operations import Health, Readiness
from attune.server.deps import MetricsDep
from attune.server.metrics import CONTENT_TYPE
from attune.server.problems import problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """200 while the process serves requests."""
    return Health(status="ok")


@router.get("/readyz", responses=problem_responses(503), summary="Readiness")
async def readyz(request: Request) -> Readiness:
    """200 once the engine is loaded and the store answers; 503 otherwise."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise HTTPException(503, "the engine is not loaded", headers={"Retry-After": "1"})
    last_seq = await run_in_threadpool(engine.store.events.last_seq)
    return Readiness(
        status="ready",
        model_version=engine.model.version,
        users=len(engine.store.users),
        items=len(engine.store.items),
        last_seq=last_seq,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
async def metrics(metrics: MetricsDep) -> Response:
    """Request latency per route, events ingested and rejected, lists served by source and
    items by reason, model version, users and items known, impressions, clicks and
    conversions per model version and reason (Prometheus text format)."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
