"""`POST /v1/events`: log events and update each user's interest at once."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Request, Response
from fastapi.routing import APIRoute

from attune.schemas.events import Event, EventsBody, IngestResponse
from attune.server.deps import CanIngest, EngineAccess, EngineDep, MetricsDep
from attune.server.fastpath import FastRoute, authorized, fast_path, json_content
from attune.server.input_limits import PARSED_BODY
from attune.server.metrics import Metrics
from attune.server.problems import InvalidInputError, problem_responses
from attune.server.responses import FastJSON
from attune.server.security import ApiScope

router = APIRouter(prefix="/v1", tags=["events"], route_class=FastRoute)


async def _fast_events(route: APIRoute, request: Request) -> Response | None:
    """A JSON body with a valid key: parsed by orjson and validated by the route's own body
    field, without FastAPI's dependency solving; anything else goes the declared way."""
    access: EngineAccess | None = request.app.state.engine_access
    if (
        access is None
        or route.body_field is None
        or not authorized(request, ApiScope.INGEST)
        or not json_content(request)
    ):
        return None
    data = request.scope.get("state", {}).get(PARSED_BODY)  # parsed by the input-limit check
    if data is None:
        try:
            raw = await request.body()
        except Exception:  # the reference path reports it (413, or 400)
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None  # json.loads may read it (NaN, huge integers) or name the error
    if data is None:
        return None
    body, errors = route.body_field.validate(data, {}, loc=("body",))
    if errors:
        return None
    return await _ingest(access, request.app.state.metrics, body)


async def _ingest(access: EngineAccess, metrics: Metrics, body: Event | list[Event]) -> FastJSON:
    events = body if isinstance(body, list) else [body]
    result = await access.run(access.engine.ingest, events)
    metrics.events_ingested.inc(result.accepted)
    metrics.timeline.events(result.accepted)
    if result.duplicates:
        metrics.events_duplicate.inc(result.duplicates)
    for r in result.rejected:
        metrics.events_rejected.labels(r.field).inc()
    if not isinstance(body, list) and result.rejected:
        raise InvalidInputError.one(result.rejected[0].field, result.rejected[0].message)
    rejected = [{"index": r.index, "field": r.field, "message": r.message} for r in result.rejected]
    return FastJSON(
        {
            "accepted": result.accepted,
            "rejected": rejected,
            "last_seq": result.last_seq,
            "duplicates": result.duplicates,
        }
    )


@router.post(
    "/events",
    response_model=IngestResponse,
    response_class=FastJSON,
    dependencies=[CanIngest],
    responses=problem_responses(400, 401, 403, 413, 422),
    summary="Send one event or a batch",
)
@fast_path(_fast_events)
async def post_events(
    body: Annotated[EventsBody, Body(description="One event, or an array of up to 1,000.")],
    access: EngineDep,
    metrics: MetricsDep,
) -> FastJSON:
    """Log the events durably and fold them into each user's state before answering: the
    next recommendation already reflects them. A call touching few users (the engine's
    `sync_refresh_users`, 64) also recomputes their interest vectors before it answers; a
    larger batch leaves that to a background worker, and a read that reaches a user first
    recomputes that user on the spot. Unknown users are created;
    unknown items are created as cold items or rejected, per the engine's `unknown_items`.

    A malformed body is refused whole (422 naming each bad field). Events that are well formed
    but cannot be taken (unknown event type, timestamp in the future, unknown item) are
    rejected one by one and listed; the rest are accepted. A single event that is rejected
    gets a 422.

    Idempotent by `event_id`: an event whose id its user already has in the log (from an
    earlier call, or earlier in the batch) is acknowledged, counted in `duplicates`, and not
    applied again; so a client may resend a batch whose answer it did not get.
    """
    return await _ingest(access, metrics, body)
