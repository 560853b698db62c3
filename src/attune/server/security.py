"""API keys with scopes, stored hashed.

A key looks like `attune_<id>_<secret>`; the keys file keeps the id, scopes and a SHA-256 of
the whole key, never the key itself. SHA-256 and not a slow password hash: the secret is 256
random bits, beyond any brute force, while a slow hash would add milliseconds to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from attune.schemas.keys import ApiScope

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


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey] = Field(default_factory=list, description="Every active key.")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The keys of one keys file, re-read when the file changes (so a revocation takes effect
    within `recheck_s` without a restart)."""

    def __init__(self, path: Path, recheck_s: float = 1.0) -> None:
        self.path = path
        self.recheck_s = recheck_s
        self._keys: dict[str, ApiKey] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._reload()

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime != self._mtime:
            stored = KeysFile.model_validate_json(self.path.read_bytes())
            self._keys = {k.id: k for k in stored.keys}
            self._mtime = mtime

    def _fresh(self) -> dict[str, ApiKey]:
        now = time.monotonic()
        if now - self._checked >= self.recheck_s:
            with self._lock:
                self._checked = now
                self._reload()
        return self._keys

    @property
    def enabled(self) -> bool:
        """Whether any key exists (otherwise the server runs without auth, loopback only)."""
        return bool(self._fresh())

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
        self._write([*self.records(), record])
        return key, record

    def revoke(self, key_id: str) -> bool:
        keys = self.records()
        kept = [k for k in keys if k.id != key_id]
        if len(kept) == len(keys):
            return False
        self._write(kept)
        return True

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        payload: dict[str, Any] = KeysFile(keys=keys).model_dump(mode="json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half
        with self._lock:
            self._mtime = None
            self._reload()
