"""Python client of the Attune HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

Answers are the API's own pydantic models (`attune.schemas`), re-exported here. Importing
this package loads httpx, orjson and pydantic only: no engine, array library or web framework.
`AsyncClient` (and with it asyncio) is loaded when first named, so a blocking program never
pays for it.
"""

from typing import TYPE_CHECKING, Any

from attune.client._calls import APIError
from attune.client._sync import Client
from attune.schemas.catalogue import Erasure, Upserted
from attune.schemas.directory import ItemList, UserList
from attune.schemas.events import IngestResponse
from attune.schemas.feedback import FeedbackSummary
from attune.schemas.filters import FilterSpec
from attune.schemas.operations import Health, Readiness, Report, Stats
from attune.schemas.problems import Problem
from attune.schemas.recommendations import (
    Explanation,
    History,
    Reason,
    Recommendations,
    SimilarItems,
)
from attune.schemas.records import Interaction, ItemUpdate, UserUpdate

if TYPE_CHECKING:
    from attune.client._async import AsyncClient


def __getattr__(name: str) -> Any:
    if name == "AsyncClient":
        from attune.client._async import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
