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
    """Where API keys persist, and whether authentication is on; the server's `KeyRing`
    caches and checks them.

    Authentication is off in a store that never held a key. Adding a key turns it on, and it
    stays on (revoking every key then leaves no key that works) until the operator turns it
    off with `set_auth_required(False)`.
    """

    def load(self) -> Sequence[KeyRecord]:
        """Every active key."""
        ...

    def add(self, record: KeyRecord) -> None:
        """Store a key, and turn authentication on (in the same write)."""
        ...

    def auth_required(self) -> bool:
        """Whether requests need a key."""
        ...

    def set_auth_required(self, required: bool) -> None:
        """Turn authentication on or off, keeping the keys."""
        ...

    def remove(self, key_id: str) -> bool:
        """Revoke a key; False when no such key."""
        ...

    def version(self) -> str:
        """Changes whenever the keys or `auth_required` change (cheap: checked on every
        request batch)."""
        ...
