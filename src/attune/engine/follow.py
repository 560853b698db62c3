"""Following a shared store: the catalogue, user attributes and items that other servers
stored reach this engine's in-memory view (item arrays, filters, vector index, user tokens).

Per-user state needs no following (it is read from the store on every request); what the
engine keeps in memory per item and per user attribute does. The store reports the changes
after a position (`ItemCatalogue.changes`, `UserProfiles.changes`); the positions are taken
before the engine reads the catalogue at open, so a change stored meanwhile is applied again
rather than missed (applying an update twice gives the same view).
"""

from __future__ import annotations

from dataclasses import dataclass

from attune.data.events import attribute_tokens
from attune.engine.context import EngineContext
from attune.ports import Storage


@dataclass
class StorePositions:
    """Where this engine has read the store's change feeds up to."""

    items: str
    users: str

    @classmethod
    def now(cls, store: Storage) -> StorePositions:
        return cls(store.catalogue.changes(None)[0], store.profiles.changes(None)[0])


class StoreFollower:
    """Applies the store's changes by other servers to one engine's context."""

    def __init__(self, ctx: EngineContext, positions: StorePositions) -> None:
        self.ctx = ctx
        self.positions = positions

    def follow(self) -> int:
        """Apply what other servers stored since the last call: new items (from their events
        or catalogue updates), item updates and user attributes. Returns how many items and
        users changed here."""
        store = self.ctx.store
        items_at, items = store.catalogue.changes(self.positions.items)
        users_at, users = store.profiles.changes(self.positions.users)
        with self.ctx.lock:
            added = self.ctx.items.grow()
            self.ctx.items.reindex(added)
            if items:
                self.ctx.items.upsert(items)
            for u in users:
                idx = store.users.index(u.user_id)
                self.ctx.user_tokens[idx] = attribute_tokens(u.attributes)
        self.positions = StorePositions(items_at, users_at)
        changed = set(added.tolist()) | {store.items.index(u.item_id) for u in items}
        return len(changed) + len({u.user_id for u in users})
