"""`POST /v1/events`: log events and update each user's interest at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from attune.server.deps import CanIngest, EngineDep, MetricsDep
from attune.server.problems import InvalidInputError, problem_responses
from attune.server.responses import FastJSON
from attune.server.schemas import EventsBody, IngestResponse

router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    response_model=IngestResponse,
    response_class=FastJSON,
    dependencies=[CanIngest],
    responses=problem_responses(400, 401, 403, 413, 422),
    summary="Send one event or a batch",
)
async def post_events(
    body: Annotated[EventsBody, Body(description="One event, or an array of up to 1,000.")],
    access: EngineDep,
    metrics: MetricsDep,
) -> FastJSON:
    """Log the events durably and update the interest of every user they touch before
    answering: the next recommendation already reflects them. Unknown users are created;
    unknown items are created as cold items or rejected, per the engine's `unknown_items`.

    A malformed body is refused whole (422 naming each bad field). Events that are well formed
    but cannot be taken (unknown event type, timestamp in the future, unknown item) are
    rejected one by one and listed; the rest are accepted. A single event that is rejected
    gets a 422.
    """
    events = body if isinstance(body, list) else [body]
    result = await access.run(access.engine.ingest, events)
    metrics.events_ingested.inc(result.accepted)
    metrics.timeline.events(result.accepted)
    for r in result.rejected:
        metrics.events_rejected.labels(r.field).inc()
    if not isinstance(body, list) and result.rejected:
        raise InvalidInputError.one(result.rejected[0].field, result.rejected[0].message)
    rejected = [{"index": r.index, "field": r.field, "message": r.message} for r in result.rejected]
    return FastJSON(
        {"accepted": result.accepted, "rejected": rejected, "last_seq": result.last_seq}
    )
