"""API keys with scopes, stored hashed.

A key looks like `attune_<id>_<secret>`; the key store keeps the id, scopes and a SHA-256 of
the whole key, never the key itself. SHA-256 and not a slow password hash: the secret is 256
random bits, beyond any brute force, while a slow hash would add milliseconds to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from attune.log import get_logger
from attune.ports import KeyRecord, KeyStore
from attune.schemas.keys import ApiScope
from attune.stores import open_key_store

_log = get_logger(__name__)

_PREFIX = "attune_"


class ApiKey(BaseModel):
    """One stored key: its public id, scopes and hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Public part of the key, shown in logs and listings.")
    name: str = Field("", description="What the key is for.")
    scopes: frozenset[ApiScope] = Field(description="What the key may do.")
    sha256: str = Field(description="Hex SHA-256 of the whole key.")
    created: datetime = Field(description="When the key was created.")

    def allows(self, scope: ApiScope) -> bool:
        return scope in self.scopes or ApiScope.ADMIN in self.scopes


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The keys of one `KeyStore`, re-read when the store changes (so a revocation takes effect
    within `recheck_s` without a restart). A re-read that finds authentication turned on or
    off by another process (`attune keys create`, `disable-auth`) logs it: from then on,
    requests without a key get 401, or need none."""

    def __init__(self, store: KeyStore, recheck_s: float = 1.0) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._keys: dict[str, ApiKey] = {}
        self._required = False
        self._version: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._reload(announce=False)

    def _reload(self, announce: bool = True) -> None:
        version = self.store.version()
        if version == self._version:
            return
        was_required = self._required
        self._keys = {r.id: _from_record(r) for r in self.store.load()}
        self._required = self.store.auth_required()
        self._version = version
        if announce and self._required != was_required:
            _log_auth_change(self._required, len(self._keys))

    def _fresh(self) -> dict[str, ApiKey]:
        now = time.monotonic()
        if now - self._checked >= self.recheck_s:
            with self._lock:
                self._checked = now
                self._reload()
        return self._keys

    @property
    def enabled(self) -> bool:
        """Whether authentication is on, as the key store says: on once a key was created,
        even after the last one is revoked (then no key works), until `disable()`. Off, the
        server serves without keys, and only on loopback."""
        self._fresh()
        return self._required

    def authenticate(self, presented: str) -> ApiKey | None:
        key_id = presented[len(_PREFIX) :].split("_", 1)[0] if presented.startswith(_PREFIX) else ""
        stored = self._fresh().get(key_id)
        if stored is None or not hmac.compare_digest(stored.sha256, _digest(presented)):
            return None
        return stored

    # -- administration (the `attune keys` commands) -------------------------------------------

    def records(self) -> list[ApiKey]:
        return sorted(self._fresh().values(), key=lambda k: k.created)

    def create(self, scopes: set[ApiScope], name: str = "") -> tuple[str, ApiKey]:
        """Add a key; returns (the key, to show once, its stored record)."""
        if not scopes:
            raise ValueError("a key needs at least one scope")
        key_id = secrets.token_hex(4)
        key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            id=key_id,
            name=name,
            scopes=frozenset(scopes),
            sha256=_digest(key),
            created=datetime.now(UTC),
        )
        self.store.add(_to_record(record))
        self._refresh()
        return key, record

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; revoking the last one leaves authentication on."""
        removed = self.store.remove(key_id)
        self._refresh()
        return removed

    def disable(self) -> None:
        """Turn authentication off (loopback only, no key needed): only with no key left, so
        that no key an operator believes in silently stops mattering."""
        if self.records():
            raise ValueError(
                f"{len(self.records())} API key(s) remain: revoke them first "
                "(`attune keys list`, `attune keys revoke`)"
            )
        self.store.set_auth_required(False)
        self._refresh()

    def _refresh(self) -> None:
        """Re-read after this ring's own change (the command that made it tells its user)."""
        with self._lock:
            self._version = None
            self._reload(announce=False)


def _log_auth_change(required: bool, key_count: int) -> None:
    """One line when a re-read finds authentication switched by another process."""
    if required:
        _log.warning(
            "authentication turned on",
            key_count=key_count,
            effect="requests without an API key now get 401",
        )
    else:
        _log.warning("authentication turned off", effect="requests need no API key (loopback only)")


def _to_record(key: ApiKey) -> KeyRecord:
    return KeyRecord(
        id=key.id,
        name=key.name,
        scopes=tuple(sorted(str(s) for s in key.scopes)),
        sha256=key.sha256,
        created=key.created.isoformat(),
    )


def _from_record(record: KeyRecord) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        scopes=frozenset(ApiScope(s) for s in record.scopes),
        sha256=record.sha256,
        created=datetime.fromisoformat(record.created),
    )


def open_key_ring(storage: str | Path, keys_file: Path | None = None) -> KeyRing:
    """The key ring of the storage at `storage` (or of `keys_file`, when given)."""
    return KeyRing(open_key_store(storage, keys_file))
