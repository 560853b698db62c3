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


class FileKeyStore:
    """`KeyStore` in one JSON file, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Sequence[KeyRecord]:
        try:
            return _KeysFile.model_validate_json(self.path.read_bytes()).keys
        except FileNotFoundError:
            return []

    def add(self, record: KeyRecord) -> None:
        self._write([*self.load(), record])

    def remove(self, key_id: str) -> bool:
        keys = list(self.load())
        kept = [k for k in keys if k.id != key_id]
        if len(kept) == len(keys):
            return False
        self._write(kept)
        return True

    def version(self) -> str:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return ""
        return f"{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"

    def _write(self, keys: list[KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        payload = _KeysFile(keys=keys).model_dump(mode="json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half
