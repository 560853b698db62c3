"""Python client of the Attune HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

Answers are the server's own pydantic models (`attune.server.schemas`), re-exported here.
"""

from attune.client._async import AsyncClient
from attune.client._calls import APIError
from attune.client._sync import Client
from attune.data.events import Interaction, ItemUpdate, UserUpdate
from attune.ranking import FilterSpec
from attune.server.schemas import (
    Erasure,
    Explanation,
    Health,
    History,
    IngestResponse,
    Problem,
    Readiness,
    Reason,
    Recommendations,
    SimilarItems,
    Upserted,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "Client",
    "Erasure",
    "Explanation",
    "FilterSpec",
    "Health",
    "History",
    "IngestResponse",
    "Interaction",
    "ItemUpdate",
    "Problem",
    "Readiness",
    "Reason",
    "Recommendations",
    "SimilarItems",
    "Upserted",
    "UserUpdate",
]
