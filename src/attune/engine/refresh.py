"""User state and V_u: fold events into states, recompute interest vectors in batches.

A state changed by an event waits in `pending` (unpacked) until its V_u is recomputed; the
refresh stores state and vector together, one pack per user and batch. Two caches make the
recompute cheaper: the key/value cache of each user's last forward (with `incremental`, a new
event extends it instead of a full recompute) and the attention behind each V_u (for reasons).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

import numpy as np

from attune.engine.batching import MicroBatcher
from attune.engine.context import EngineContext
from attune.engine.interest import Explanation
from attune.engine.state import UserState, fold_event
from attune.model.incremental import KVCache
from attune.ports import LoggedEvent

_V = TypeVar("_V")


class UserVectors:
    """The users' states and interest vectors, and the caches that speed up their refresh."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.pending: dict[int, UserState] = {}
        """States changed by events whose V_u refresh has not run yet (under the lock)."""
        self.kv: OrderedDict[int, KVCache] = OrderedDict()
        self.explanations: OrderedDict[int, tuple[int, Explanation]] = OrderedDict()
        """Per user: (last seq of the state, attention behind its V_u)."""
        self.batcher: MicroBatcher[int, np.ndarray | None] = MicroBatcher(self.refresh)
        """Concurrent ingests' refreshes, combined into one forward."""

    # -- state ---------------------------------------------------------------------------------

    def state(self, user: int) -> UserState:
        """The user's current state: pending (folded, not stored yet) or stored."""
        pending = self.pending.get(user)
        if pending is not None:
            return pending
        raw = self.ctx.states.get(user)
        return UserState() if raw is None else UserState.unpack(raw)

    def needs_vector(self, user: int) -> bool:
        s = self.state(user)
        return s.vector is None or s.model_version != self.ctx.model.version

    def vector_of(self, user: int) -> np.ndarray | None:
        s = self.state(user)
        return None if s.vector is None else s.vector.astype(np.float32)

    def fold(self, state: UserState, e: LoggedEvent) -> bool:
        """Apply one logged event to a state; False when it was applied before."""
        return fold_event(
            state,
            e,
            self.ctx.event_types,
            max_len=self.ctx.model.max_len,
            max_seen=self.ctx.config.max_seen,
            window=self.ctx.config.window,
        )

    def apply(self, e: LoggedEvent) -> None:
        """Fold an event into the user's state; it stays unpacked until `refresh` stores it
        with the new V_u (one pack per user and batch instead of two per event)."""
        state = self.state(e.user)
        if self.fold(state, e):
            self.pending[e.user] = state

    def store_pending(self) -> None:
        """Store the pending states as they are; their V_u stays pending."""
        for user, state in self.pending.items():
            self.ctx.states.put(user, state.pack())

    def forget(self, user: int) -> bool:
        """Drop the user's state and cached forward; whether a stored state was deleted."""
        self.pending.pop(user, None)
        deleted = self.ctx.states.delete(user)
        self.kv.pop(user, None)
        return bool(deleted)

    # -- V_u -----------------------------------------------------------------------------------

    def user_vector(self, user: int) -> np.ndarray | None:
        """The user's V_u, refreshed first when an event is still pending."""
        with self.ctx.lock:
            if user in self.pending:  # not reached by the backlog yet
                self.refresh([user])
            return self.vector_of(user)

    def refresh(self, users: list[int]) -> dict[int, np.ndarray | None]:
        """Recompute V_u of `users` in one batched forward; store them with the state.

        With `incremental`, users whose key/value cache is current extend it by their newest
        event instead; the rest (and everyone otherwise) take the plain full recompute.
        """
        ctx = self.ctx
        with ctx.lock:
            states = {u: self.state(u) for u in users}
            for u in users:
                self.pending.pop(u, None)
            out: dict[int, np.ndarray | None] = {}
            full: list[int] = []
            for u, s in states.items():
                step = None
                if ctx.config.incremental and len(s.items):
                    step = ctx.model.extend_cached(self.kv.pop(u, None), s)
                if step is None:
                    full.append(u)
                else:
                    out[u] = step[0]
                    self._remember_kv(u, step[1])
                    self.explanations.pop(u, None)  # stale now; recomputed when asked
            out.update(self._recompute(full, states))
            for u, s in states.items():
                vec = out[u]
                s.vector = None if vec is None else vec.astype(np.float16)
                s.model_version = ctx.model.version
                ctx.states.put(u, s.pack())
            return out

    def _recompute(
        self, users: list[int], states: dict[int, UserState]
    ) -> dict[int, np.ndarray | None]:
        """Full forward of `users`: V_u, and the attention and key/value cache it leaves."""
        ctx = self.ctx
        tokens = [ctx.model.user_tokens(ctx.user_tokens.get(u, [])) for u in users]
        results = ctx.model.user_vectors([states[u] for u in users], tokens)
        out: dict[int, np.ndarray | None] = {}
        for u, result in zip(users, results, strict=True):
            out[u] = None if result is None else result[0]
            if result is not None:
                _remember(
                    self.explanations,
                    u,
                    (states[u].last_seq, result[1]),
                    ctx.config.explain_cache_users,
                )
            if ctx.config.incremental:
                cache = ctx.model.build_cache(states[u])
                if cache is not None:
                    self._remember_kv(u, cache)
        return out

    def refresh_stale(self, users: list[int]) -> int:
        """Refresh those of `users` whose V_u is missing or from another model; how many."""
        with self.ctx.lock:
            stale = [u for u in users if self.needs_vector(u)]
            if stale:
                self.refresh(stale)
            return len(stale)

    def rebuild_profiles(self) -> None:
        """Cold-start profiles from the current V_u of every user with attributes."""
        self.ctx.profiles.rebuild(self.ctx.user_tokens, self.vector_of)

    # -- caches --------------------------------------------------------------------------------

    def explanation(self, user: int, state: UserState) -> Explanation | None:
        """The attention behind the user's current V_u: cached from the refresh, or computed."""
        hit = self.explanations.get(user)
        if hit is not None and hit[0] == state.last_seq:
            return hit[1]
        ctx = self.ctx
        tokens = ctx.model.user_tokens(ctx.user_tokens.get(user, []))
        expl = ctx.model.explain(state, tokens)
        if expl is not None:
            _remember(
                self.explanations, user, (state.last_seq, expl), ctx.config.explain_cache_users
            )
        return expl

    def clear_caches(self) -> None:
        """Forget every cached forward and explanation (they belong to the model served)."""
        self.kv.clear()
        self.explanations.clear()

    def _remember_kv(self, user: int, cache: KVCache) -> None:
        _remember(self.kv, user, cache, self.ctx.config.kv_cache_users)


def _remember(cache: OrderedDict[int, _V], key: int, value: _V, size: int) -> None:
    """Put `key` in an LRU cache of `size` entries."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
