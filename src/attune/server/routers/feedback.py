"""`GET /v1/feedback`: click-through and conversion of served lists."""

from __future__ import annotations

from fastapi import APIRouter

from attune.feedback import FeedbackSummary
from attune.server.deps import CanRecommend, EngineDep
from attune.server.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.get(
    "/feedback",
    dependencies=[CanRecommend],
    responses=problem_responses(401, 403, 503),
    summary="Click-through and conversion per model version and reason",
)
async def get_feedback(access: EngineDep) -> FeedbackSummary:
    """Every served list is logged as an impression; events that send its
    `recommendation_id` back are joined to it. Counts cover everything in the database
    (lists served before a restart included), each list item clicked and converted at most
    once. Click and conversion event types are the engine's `feedback` settings."""
    return access.engine.feedback.summary()
