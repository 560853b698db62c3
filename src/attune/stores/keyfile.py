"""API keys in a JSON file beside the embedded database (hashes and scopes, mode 0600)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from attune.ports import KeyRecord


class _KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[KeyRecord] = Field(default_factory=list)
    auth_required: bool | None = None
    """Whether requests need a key; absent (files written before the flag existed): on when
    the file holds a key."""

    @property
    def required(self) -> bool:
        return bool(self.keys) if self.auth_required is None else self.auth_required


class FileKeyStore:
    """`KeyStore` in one JSON file, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> _KeysFile:
        try:
            return _KeysFile.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return _KeysFile()

    def load(self) -> Sequence[KeyRecord]:
        return self._read().keys

    def add(self, record: KeyRecord) -> None:
        self._write([*self.load(), record], auth_required=True)

    def remove(self, key_id: str) -> bool:
        current = self._read()
        kept = [k for k in current.keys if k.id != key_id]
        if len(kept) == len(current.keys):
            return False
        self._write(kept, auth_required=current.required)  # the last key gone: still on
        return True

    def auth_required(self) -> bool:
        return self._read().required

    def set_auth_required(self, required: bool) -> None:
        self._write(list(self.load()), auth_required=required)

    def version(self) -> str:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return ""
        return f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"

    def _write(self, keys: list[KeyRecord], *, auth_required: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        payload = _KeysFile(keys=keys, auth_required=auth_required).model_dump(mode="json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half
