"""Catalogue and user-attribute changes as a stream beside the data they change, so that every
server can bring its in-memory view (item index, filters, user tokens) up to date.

Each change is one stream entry holding the update's JSON and the id of the storage object
that wrote it; it is added in the same `MULTI` as the hashes it describes (same slot), so a
change is announced exactly when it is stored. A reader asks for the entries after the last
id it has seen and skips its own. The stream is capped (`MAXLEN ~`): a reader polling every
second falls behind the cap only when more than that many changes are stored per second.
"""

from __future__ import annotations

import uuid
from typing import Any

from attune.stores.redis.connection import Client

MAX_CHANGES = 100_000
"""Changes kept per stream (approximately: Redis trims whole nodes)."""
READ_BATCH = 10_000
"""Most entries one read returns; the next read continues after them."""


class ChangeFeed:
    """One change stream (`key`) as written and read by one storage object."""

    def __init__(self, client: Client, key: str) -> None:
        self._r, self.key = client, key
        self.origin = uuid.uuid4().hex
        """This storage object's id in the entries it writes (its own are skipped on read)."""

    def add(self, pipe: Any, payloads: list[str]) -> None:
        """Queue one entry per payload on `pipe` (the transaction storing the change)."""
        for payload in payloads:
            pipe.xadd(self.key, {"o": self.origin, "u": payload}, maxlen=MAX_CHANGES)

    def after(self, cursor: str | None) -> tuple[str, list[str]]:
        """(the last entry id, the payloads other writers stored after `cursor`), oldest
        first; `cursor` None: the current end and no payloads (where a new reader starts)."""
        if cursor is None:
            last = self._r.xrevrange(self.key, count=1)
            return (_text(last[0][0]) if last else "0-0"), []
        rows = self._r.xrange(self.key, min=f"({cursor}", count=READ_BATCH)
        if not rows:
            return cursor, []
        payloads = [_text(fields[b"u"]) for _, fields in rows if _text(fields[b"o"]) != self.origin]
        return _text(rows[-1][0]), payloads


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
