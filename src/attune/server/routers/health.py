"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from attune.engine.engine import Engine
from attune.schemas.operations import Health, Readiness
from attune.server.deps import MetricsDep
from attune.server.metrics import CONTENT_TYPE
from attune.server.problems import problem_response, problem_responses
from attune.server.unavailable import RETRY_AFTER_S, UNAVAILABLE, probe

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """200 while the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz", response_model=Readiness, responses=problem_responses(503), summary="Readiness"
)
async def readyz(request: Request) -> Readiness | Response:
    """200 once the engine is loaded and the store answers, with the store's kind and the
    round trip of one read from it; 503 otherwise (the problem's `store` member says what the
    probe found). Never waits on the engine's work: the probe reads the store directly."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise HTTPException(503, "the engine is not loaded", headers={"Retry-After": "1"})
    return await run_in_threadpool(_readiness, engine)


def _readiness(engine: Engine) -> Readiness | Response:
    """The probe and the counts (blocking reads: run off the event loop)."""
    store, last_seq = probe(engine.store)
    try:
        if last_seq is not None:
            users, items = len(engine.store.users), len(engine.store.items)
            return Readiness(
                status="ready",
                store=store,
                model_version=engine.model.version,
                users=users,
                items=items,
                last_seq=last_seq,
            )
    except UNAVAILABLE:  # gone between the probe and the counts
        store = store.model_copy(update={"reachable": False, "latency_ms": None})
    return problem_response(
        503,
        f"the store ({store.kind}) is unreachable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
        extensions={"store": store.model_dump()},
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
    # Off the event loop: the store-backed gauges read the store (NaN while it is down).
    return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE)
