"""User state and V_u: fold events into states, recompute interest vectors in batches.

A state changed by an event waits in `pending` (unpacked) until its V_u is recomputed; the
refresh stores state and vector together, one pack per user and batch. Two caches make the
recompute cheaper: the key/value cache of each user's last forward (with `incremental`, a new
event extends it instead of a full recompute) and the attention behind each V_u (for reasons).

On a shared store (`Storage.single_process` False; docs/scaling.md, "What acknowledged
means") nothing of a user's state stays in the process between requests: the log's
acknowledgement already put the event in the user's tail in the store, every read folds that
tail, and a refresh writes its fold back with a compare-and-set, retrying when another server
folded first. The backlog then holds only which users to refresh (`queued`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from attune.engine.batching import MicroBatcher
from attune.engine.context import EngineContext
from attune.engine.interest import Explanation
from attune.engine.state import UserState, fold_event
from attune.log import get_logger
from attune.model.incremental import KVCache
from attune.model.served import STORED_DTYPE, as_stored
from attune.ports import LoggedEvent, SharedUserStates, StateRead, StorageError

_V = TypeVar("_V")
_log = get_logger(__name__)

FOLD_TRIES = 8
"""Compare-and-set attempts of one shared refresh before it leaves the tail to the next one."""


class UserVectors:
    """The users' states and interest vectors, and the caches that speed up their refresh."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.pending: dict[int, UserState] = {}
        """States changed by events whose V_u refresh has not run yet (under the lock)."""
        self.shared: SharedUserStates | None = None
        """The store's shared states when it is not single-process (then `pending` stays
        empty and `queued` holds the users to refresh)."""
        if not ctx.store.single_process:
            if not isinstance(ctx.states, SharedUserStates):
                raise StorageError("a shared store's user states must fold by compare-and-set")
            self.shared = ctx.states
        self.queued: dict[int, None] = {}
        """Shared store: users whose tail waits for a V_u refresh, oldest first."""
        self.kv_base: dict[int, bytes] = {}
        """Shared store: per user in `kv`, the `window_key` of the stored state its forward
        was for (another server may have stored a newer state since)."""
        self.kv: OrderedDict[int, KVCache] = OrderedDict()
        self.explanations: OrderedDict[int, tuple[bytes, Explanation]] = OrderedDict()
        """Per user: (`window_key` of the state, attention behind its V_u)."""
        self.batcher: MicroBatcher[int, np.ndarray | None] = MicroBatcher(self.refresh)
        """Concurrent ingests' refreshes, combined into one forward."""

    # -- state ---------------------------------------------------------------------------------

    @property
    def waiting(self) -> Mapping[int, object]:
        """Users whose V_u refresh is due, oldest first (the backlog's queue)."""
        return self.queued if self.shared is not None else self.pending

    def is_pending(self, user: int, state: UserState) -> bool:
        """Whether `state` (just read) holds events its stored V_u does not reflect."""
        return bool(state.unfolded) if self.shared is not None else user in self.pending

    def state(self, user: int) -> UserState:
        """The user's current state: pending (folded, not stored yet) or stored; on a shared
        store, the stored state with its tail folded in."""
        if self.shared is not None:
            return self.fold_read(self.shared.read([user])[user])
        pending = self.pending.get(user)
        if pending is not None:
            return pending
        raw = self.ctx.states.get(user)
        return UserState() if raw is None else UserState.unpack(raw)

    def needs_vector(self, user: int) -> bool:
        s = self.state(user)
        return not s.has_vector_of(self.ctx.model.version, self.ctx.model.dim)

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

    def fold_read(self, read: StateRead) -> UserState:
        """A shared store's state with its tail folded in, in acknowledgement order. Each
        entry is folded exactly once (the compare-and-set drops what it folded), so none is
        skipped by seq: one not logged yet has none, and seqs of concurrent writers need not
        follow the tail's order. `last_seq` therefore misses an event folded before its
        commit: it identifies no state (the caches key on `window_key`)."""
        state = UserState() if read.packed is None else UserState.unpack(read.packed)
        for e in read.tail:
            self.fold(state, e._replace(seq=0))
            state.last_seq = max(state.last_seq, e.seq)
        state.unfolded = len(read.tail)
        return state

    def apply(self, e: LoggedEvent) -> None:
        """Fold an event into the user's state; it stays unpacked until `refresh` stores it
        with the new V_u (one pack per user and batch instead of two per event). On a shared
        store the event is in the user's tail already: the user is queued for the refresh."""
        if self.shared is not None:
            self.queued[e.user] = None
            return
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
        self.queued.pop(user, None)
        deleted = self.ctx.states.delete(user)
        self.kv.pop(user, None)
        return bool(deleted)

    # -- V_u -----------------------------------------------------------------------------------

    def user_vector(self, user: int) -> np.ndarray | None:
        """The user's V_u, refreshed first when an event is still pending."""
        with self.ctx.lock:
            if self.shared is not None:
                state = self.state(user)
                if not state.unfolded:
                    return None if state.vector is None else state.vector.astype(np.float32)
                vec = self.refresh([user]).get(user)
                return None if vec is None else as_stored(vec)
            if user in self.pending:  # not reached by the backlog yet
                self.refresh([user])
            return self.vector_of(user)

    def refresh(self, users: list[int]) -> dict[int, np.ndarray | None]:
        """Recompute V_u of `users` in one batched forward; store them with the state.

        With `incremental`, users whose key/value cache is current extend it by their newest
        event instead; the rest (and everyone otherwise) take the plain full recompute.
        """
        ctx = self.ctx
        if self.shared is not None:
            return self._refresh_shared(self.shared, users)
        with ctx.lock:
            states = {u: self.state(u) for u in users}
            for u in users:
                self.pending.pop(u, None)
            out = self._compute(states)
            for u, s in states.items():
                ctx.states.put(u, s.pack())
            return out

    def _compute(self, states: dict[int, UserState]) -> dict[int, np.ndarray | None]:
        """V_u of each state, set on the state with the served model's version: extending the
        cached forward where it can, a full forward for the rest."""
        ctx = self.ctx
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
            s.vector = None if vec is None else vec.astype(STORED_DTYPE)
            s.model_version = ctx.model.version
        return out

    def _refresh_shared(
        self, shared: SharedUserStates, users: list[int]
    ) -> dict[int, np.ndarray | None]:
        """Read, fold, compute and compare-and-set; users another server folded for first
        are read again, up to `FOLD_TRIES` times (their events stay in the tail after that,
        for the next refresh: nothing is lost). Only the forward and the caches hold the
        engine's lock: the store's round trips are atomic there, as another server's are."""
        lock = self.ctx.lock
        with lock:
            for u in users:
                self.queued.pop(u, None)
        out: dict[int, np.ndarray | None] = {}
        todo = list(dict.fromkeys(users))
        for _ in range(FOLD_TRIES):
            reads = shared.read(todo)
            with lock:
                states = {u: self.fold_read(r) for u, r in reads.items()}
                for u, r in reads.items():  # a forward cached for another state is no use
                    packed = r.packed
                    base = None if packed is None else UserState.unpack(packed).window_key()
                    if base is None or self.kv_base.get(u) != base:
                        self.kv.pop(u, None)
                out.update(self._compute(states))
            writes = [(u, reads[u], states[u].pack()) for u in todo]
            stored = shared.write(writes)
            lost = [u for u, ok in zip(todo, stored, strict=True) if not ok]
            with lock:
                self._note_kv_bases(states, set(lost))
            if not lost:
                return out
            todo = lost
        _log.warning("user state fold kept losing to other servers", users=len(todo))
        return out

    def _note_kv_bases(self, states: Mapping[int, UserState], lost: set[int]) -> None:
        """Remember which stored state each new cached forward belongs to; forget those
        computed for a fold that was not stored."""
        for u, s in states.items():
            if u in lost:
                self.kv.pop(u, None)
                self.explanations.pop(u, None)
            elif u in self.kv:
                self.kv_base[u] = s.window_key()
        if len(self.kv_base) > 2 * max(1, len(self.kv)):
            self.kv_base = {u: b for u, b in self.kv_base.items() if u in self.kv}

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
                    (states[u].window_key(), result[1]),
                    ctx.config.explain_cache_users,
                )
            if ctx.config.incremental:
                cache = ctx.model.build_cache(states[u])
                if cache is not None:
                    self._remember_kv(u, cache)
        return out

    def stale(self, users: Sequence[int]) -> list[int]:
        """Those of `users` whose V_u is missing or from another model (or, on a shared
        store, who have events to fold)."""
        if self.shared is None:
            return [u for u in users if self.needs_vector(u)]
        version = self.ctx.model.version
        out: list[int] = []
        for u, r in self.shared.read(users).items():
            s = self.fold_read(r)
            if s.unfolded or not s.has_vector_of(version, self.ctx.model.dim):
                out.append(u)
        return out

    def refresh_stale(self, users: list[int]) -> int:
        """Refresh those of `users` whose V_u is missing or from another model; how many."""
        with self.ctx.lock:
            stale = self.stale(users)
            if stale:
                self.refresh(stale)
            return len(stale)

    def rebuild_profiles(self) -> None:
        """Cold-start profiles from the current V_u of every user with attributes."""
        self.ctx.profiles.rebuild(self.ctx.user_tokens, self.vector_of)

    # -- caches --------------------------------------------------------------------------------

    def explanation(self, user: int, state: UserState) -> Explanation | None:
        """The attention behind the user's current V_u: cached from the refresh, or computed."""
        key = state.window_key()
        hit = self.explanations.get(user)
        if hit is not None and hit[0] == key:
            return hit[1]
        ctx = self.ctx
        tokens = ctx.model.user_tokens(ctx.user_tokens.get(user, []))
        expl = ctx.model.explain(state, tokens)
        if expl is not None:
            _remember(self.explanations, user, (key, expl), ctx.config.explain_cache_users)
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
