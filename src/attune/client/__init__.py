"""Python client of the Attune HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

Answers are the server's own pydantic models (`attune.server.schemas`), re-exported here.
"""

from attune.client._async import AsyncClient
from attune.client._calls import APIError
from attune.client._sync import Client
from attune.data.events import Interaction, ItemUpdate, UserUpdate
from attune.feedback import FeedbackSummary
from attune.ranking import FilterSpec
from attune.server.schemas import (
    Erasure,
    Explanation,
    Health,
    History,
    IngestResponse,
    ItemList,
    Problem,
    Readiness,
    Reason,
    Recommendations,
    Report,
    SimilarItems,
    Stats,
    Upserted,
    UserList,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "Client",
    "Erasure",
    "Explanation",
    "FeedbackSummary",
    "FilterSpec",
    "Health",
    "History",
    "IngestResponse",
    "Interaction",
    "ItemList",
    "ItemUpdate",
    "Problem",
    "Readiness",
    "Reason",
    "Recommendations",
    "Report",
    "SimilarItems",
    "Stats",
    "Upserted",
    "UserList",
    "UserUpdate",
]
