"""User state across restarts: the event log is the source of truth, the state file a
snapshot of the states derived from it up to some log position.

Opening restores the snapshot and replays only the events after it (the popularity counts
have a snapshot of their own, taken at the same moment); a snapshot is written every
`snapshot_every` events, on erasure and on close.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from attune.engine.context import EngineContext
from attune.engine.refresh import UserVectors
from attune.engine.state import UserState
from attune.log import get_logger
from attune.ports import LoggedEvent

_log = get_logger(__name__)

_RESTORE_CHUNK = 1024
"""Users per batched V_u refresh while restoring."""
_COUNT_CHUNK = 10_000
"""Events per popularity batch while restoring (bounded memory, few round trips)."""


class StatePersistence:
    """Restore on open, snapshots while serving, the store's close at the end."""

    def __init__(self, ctx: EngineContext, vectors: UserVectors) -> None:
        self.ctx = ctx
        self.vectors = vectors
        self.applied_seq = 0
        """Log position of the last event folded into state."""
        self.since_snapshot = 0
        """Events folded since the last snapshot."""
        self.popularity_stale = False
        """Set by an erasure: the counts still hold the erased events, so no snapshot keeps
        them and the next restore counts the log again."""

    def restore(self, count_popularity: Callable[[Sequence[LoggedEvent]], None]) -> None:
        """State = snapshot (if any) + the logged events after it; popularity likewise from its
        own snapshot (taken with the state's, so usually at the same position)."""
        ctx = self.ctx
        start = ctx.states.load_snapshot()
        counted = ctx.items.popularity.load_snapshot()
        # Shared states are complete by construction (packed + tail, written with the event):
        # nothing is replayed into them, only the users with a tail are folded below.
        replay = self.vectors.shared is None
        ctx.items.popularity.ensure_size(ctx.n_items())
        t0, n = time.perf_counter(), 0
        # Replayed states stay unpacked until the end: one pack per user, not per event.
        replayed: dict[int, UserState] = {}
        uncounted: list[LoggedEvent] = []
        for event in ctx.store.events.read_events(after=min(start, counted) if replay else counted):
            if event.seq > counted:
                uncounted.append(event)
                if len(uncounted) >= _COUNT_CHUNK:
                    count_popularity(uncounted)
                    uncounted = []
            if replay and event.seq > start:
                state = replayed.get(event.user)
                if state is None:
                    state = replayed[event.user] = self.vectors.state(event.user)
                self.vectors.fold(state, event)
                n += 1
        count_popularity(uncounted)
        for user, state in replayed.items():
            ctx.states.put(user, state.pack())
        self.applied_seq = ctx.store.events.last_seq()
        users = list(ctx.states.users())
        if self.vectors.shared is not None:
            users = sorted({*users, *self.vectors.shared.unfolded_users()})
        stale = self.vectors.stale(users)
        for chunk in range(0, len(stale), _RESTORE_CHUNK):
            self.vectors.refresh(stale[chunk : chunk + _RESTORE_CHUNK])
        self.vectors.rebuild_profiles()
        _log.info(
            "engine restored",
            snapshot_seq=start,
            popularity_seq=counted,
            replayed=n,
            refreshed=len(stale),
            seconds=round(time.perf_counter() - t0, 3),
        )

    def applied(self, last_seq: int, count: int) -> None:
        """`count` events up to `last_seq` were folded into state (under the lock)."""
        self.applied_seq = last_seq
        self.since_snapshot += count

    def snapshot_if_due(self) -> None:
        every = self.ctx.config.snapshot_every
        if every and self.since_snapshot >= every:
            self.snapshot()

    def snapshot(self) -> None:
        ctx = self.ctx
        with ctx.lock:
            # Events folded but not stored yet belong in the snapshot; their V_u is left to
            # the backlog (or to the restore), not computed in the request that snapshots.
            self.vectors.store_pending()
            ctx.states.save_snapshot(self.applied_seq)
            if self.popularity_stale:
                ctx.items.popularity.discard_snapshot()
            else:
                ctx.items.popularity.save_snapshot(self.applied_seq)
            ctx.feedback.flush()
            self.since_snapshot = 0

    def close(self) -> None:
        """Snapshot, store the buffered impressions and close the store (background work has
        stopped)."""
        self.snapshot()
        with self.ctx.lock:
            self.ctx.feedback.flush()  # what the last snapshot left buffered
        self.ctx.store.close()
