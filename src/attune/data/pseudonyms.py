"""Keyed pseudonyms of user ids: HMAC-SHA256 under a chain of secret keys.

With a key file configured, every user id that enters the engine, an import or a training
run is replaced by `HMAC(k_n, ... HMAC(k_2, HMAC(k_1, raw)))` (lowercase hex) before anything
stores, logs or trains on it, so a deployment holds pseudonyms only. A key rotation re-keys
the stored pseudonyms by one more HMAC under the new key (`attune users rotate-key`): raw
ids are never kept, so the chain is the only way from a raw id to the stored one.

The key file is JSON, mode 0600: `{"keys": ["<hex>", ...]}`, oldest key first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from attune.data.dataset import Dataset
from attune.data.vocab import Vocabulary

KEY_BYTES = 32
"""Length of a generated key (256 bits, SHA-256's block of security)."""
MIN_KEY_BYTES = 16
"""Shortest key a key file may hold."""
TOMBSTONE_PREFIX = "\x00"
"""Reserved ids (erased users' tombstones) are left as they are: they name no person."""


class PseudonymKeyError(ValueError):
    """The key file is missing, unreadable or malformed; the message names the file."""


def pseudonym(key: bytes, user_id: str) -> str:
    """One link of the chain: HMAC-SHA256 of the id under `key`, as lowercase hex."""
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def fingerprint(key: bytes) -> str:
    """A short public name of a key (records which rotations were applied; not secret)."""
    return hashlib.sha256(b"attune-pseudonym-key:" + key).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Pseudonyms:
    """The raw id -> stored id map of one key chain (oldest key first)."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a pseudonym key chain needs at least one key")

    def __call__(self, user_id: str) -> str:
        """The stored id of a raw id (every key of the chain applied, oldest first)."""
        for key in self.keys:
            user_id = pseudonym(key, user_id)
        return user_id

    def many(self, user_ids: Sequence[str]) -> list[str]:
        return [self(u) for u in user_ids]

    def dataset(self, data: Dataset) -> Dataset:
        """`data` with its user vocabulary replaced by pseudonyms, index for index."""
        return dataclasses.replace(data, users=Vocabulary(self.many(data.users.ids)))

    def then(self, key: bytes) -> Pseudonyms:
        """This chain with `key` appended (the chain after a rotation to `key`)."""
        return Pseudonyms((*self.keys, key))


def rekey(key: bytes, stored_id: str) -> str:
    """A stored pseudonym after a rotation to `key` (tombstones unchanged)."""
    return stored_id if stored_id.startswith(TOMBSTONE_PREFIX) else pseudonym(key, stored_id)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def load_key_file(path: Path) -> Pseudonyms:
    """The key chain in `path`; `PseudonymKeyError` naming the file when it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PseudonymKeyError(
            f"pseudonym key file {path} does not exist (create one with "
            f"`attune users new-key --key-file {path}`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PseudonymKeyError(f"pseudonym key file {path} cannot be read: {exc}") from None
    return Pseudonyms(tuple(_parse_keys(path, text)))


def _parse_keys(path: Path, text: str) -> list[bytes]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise PseudonymKeyError(
            f'pseudonym key file {path} is not JSON of the form {{"keys": ["<hex>", ...]}}'
        ) from None
    listed = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(listed, list) or not listed:
        raise PseudonymKeyError(f'pseudonym key file {path} has no "keys" list of hex keys')
    keys: list[bytes] = []
    for n, item in enumerate(listed):
        try:
            key = bytes.fromhex(item) if isinstance(item, str) else b""
        except ValueError:
            key = b""
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"pseudonym key file {path}: key {n} is not hex of at least {MIN_KEY_BYTES} bytes"
            )
        keys.append(key)
    return keys


def write_key_file(path: Path, chain: Pseudonyms) -> None:
    """Write the chain to `path` (mode 0600), replacing it atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"keys": [k.hex() for k in chain.keys]}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # readers see the old chain or the new one, never half


def load_optional(path: Path | None) -> Pseudonyms | None:
    """The chain in `path`, or None when no key file is configured."""
    return None if path is None else load_key_file(path)
