"""The API-key port: hashed keys with scopes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class KeyRecord(BaseModel):
    """One stored key as a backend holds it: never the key itself, only its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    scopes: tuple[str, ...]
    sha256: str
    created: str
    """ISO 8601 time of creation."""


class KeyStore(Protocol):
    """Where API keys persist; the server's `KeyRing` caches and checks them."""

    def load(self) -> Sequence[KeyRecord]:
        """Every active key."""
        ...

    def add(self, record: KeyRecord) -> None: ...

    def remove(self, key_id: str) -> bool:
        """Revoke a key; False when no such key."""
        ...

    def version(self) -> str:
        """Changes whenever the set of keys changes (cheap: checked on every request batch)."""
        ...
