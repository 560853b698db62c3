"""What an API key may do: the scopes `attune keys create` grants and `/v1/keys/me` reports."""

from __future__ import annotations

from enum import StrEnum


class ApiScope(StrEnum):
    """What a key may do. `admin` includes the other two."""

    INGEST = "ingest"
    """Send events and item/user updates."""
    RECOMMEND = "recommend"
    """Read recommendations, explanations, histories and similar items."""
    ADMIN = "admin"
    """Everything, including erasing users."""
