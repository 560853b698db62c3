"""Erasure of a user: events, impressions, state, cached forwards and attributes, and the
snapshot that still holds them."""

from __future__ import annotations

from attune.engine.context import EngineContext
from attune.engine.refresh import UserVectors
from attune.engine.restore import StatePersistence


class UserErasure:
    """Forgets users everywhere the engine keeps them."""

    def __init__(
        self, ctx: EngineContext, vectors: UserVectors, persistence: StatePersistence
    ) -> None:
        self.ctx = ctx
        self.vectors = vectors
        self.persistence = persistence

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase a user's events, state and attributes; returns what was removed, and the
        internal index the user had (`user_index`: what model versions record)."""
        ctx = self.ctx
        with ctx.lock, ctx.gate.alone():  # no append of this process in flight
            idx = ctx.known_user(user_id)
            unwritten = ctx.feedback.forget(idx)  # before a flush could store them
            removed = ctx.store.erase_user(user_id)
            removed["impressions"] = removed.get("impressions", 0) + unwritten
            removed["state"] = int(self.vectors.forget(idx))
            ctx.user_tokens.pop(idx, None)
            if ctx.challenger is not None:  # its V_u of the user, cached
                ctx.challenger.forget(idx)
            # A snapshot would still hold the user's state: rewrite it now. The popularity
            # counts still hold the user's events: none is kept, a restart recounts the log.
            self.persistence.popularity_stale = True
            self.persistence.snapshot()
            removed["user_index"] = idx
            return removed
