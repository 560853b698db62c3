"""The real-time engine: ingest an event, update the user's interest at once, recommend.

Everything here is in-process and backend-neutral: events go to an `EventLog`, user state to a
`UserStateStore`, vectors through an `ItemIndex`, lists through the pure `ranking` package.
The event log is the source of truth; user state is derived from it (snapshot + tail).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attune.data.events import Interaction, ItemUpdate, UserUpdate, attribute_tokens
from attune.engine.batching import MicroBatcher
from attune.engine.coldstart import AttributeProfiles
from attune.engine.config import EngineConfig
from attune.engine.explain import Reason, Reasoner
from attune.engine.ingest import IngestResult, validate_events
from attune.engine.interest import Explanation, InterestModel, serving_model
from attune.engine.items import ItemSide
from attune.engine.state import UserState, fold_event
from attune.feedback import FeedbackLog
from attune.learning.registry import resolve_model
from attune.log import get_logger
from attune.model.device import resolve_device
from attune.model.incremental import KVCache
from attune.ranking import (
    FilterSpec,
    RankContext,
    UserItems,
    rank,
)
from attune.retrieval import serial_blas
from attune.stores.base import LoggedEvent, UserStateStore
from attune.stores.impressions import SQLiteImpressions
from attune.stores.memory import MemoryUserStateStore
from attune.stores.sqlite import SQLiteStore
from attune.training.checkpoint import load_members

_log = get_logger(__name__)


class UnknownUserError(KeyError):
    """The user id is not known to the engine."""


class UnknownItemError(KeyError):
    """The item id is not known to the engine."""


@dataclass(slots=True)  # built 10 times a request: not frozen, whose __init__ costs 3x
class Recommended:
    item_id: str
    score: float
    reason: Reason


@dataclass(frozen=True)
class Recommendations:
    recommendation_id: str
    user_id: str
    items: list[Recommended]
    model_version: int
    source: str
    """What produced the list: model, attributes (cold-start vector) or popularity."""


class Engine:
    """Ingest, update and recommend over one store and one model version."""

    def __init__(
        self,
        store: SQLiteStore,
        model: InterestModel,
        config: EngineConfig | None = None,
        states: UserStateStore | None = None,
        snapshot_path: Path | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
            if self.config.threads == 1:
                serial_blas()  # numpy's BLAS too: retrieval's matrix-vector product
        self.store = store
        self.model = model
        self.states: UserStateStore = states if states is not None else MemoryUserStateStore()
        self.snapshot_path = snapshot_path
        self.event_types = store.event_types()
        self.feedback = FeedbackLog(
            SQLiteImpressions(store), self.event_types, self.config.feedback
        )
        """Served lists as impressions, joined to the events that name them."""
        self._positive_mask = np.array(
            [self.event_types.is_positive(n) for n in self.event_types.names]
        )
        self._weights = np.array([self.event_types.types[n].weight for n in self.event_types.names])
        self._lock = threading.RLock()
        self._rng = np.random.default_rng(self.config.seed)
        self._kv: OrderedDict[int, KVCache] = OrderedDict()
        self._pending: dict[int, UserState] = {}
        """States changed by events whose V_u refresh has not run yet (under `_lock`)."""
        self._explanations: OrderedDict[int, tuple[int, Explanation]] = OrderedDict()
        self._batcher: MicroBatcher[int, np.ndarray | None] = MicroBatcher(self._refresh)
        self._since_snapshot = 0
        self._applied_seq = 0
        self._swaps = 0
        self._closed = False
        self._refresher: threading.Thread | None = None
        self._backlog = threading.Condition(self._lock)
        """Signals the backlog worker (new users in `_pending`) and `wait_backlog` (empty)."""
        self._backlog_worker: threading.Thread | None = None
        self._load()
        self._restore()
        store.checkpoint_in_background()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db: str | Path,
        model_dir: str | Path,
        config: EngineConfig | None = None,
        version: int = 1,
    ) -> Engine:
        """An engine over the database `db` serving `model_dir`: a checkpoint directory (served
        as `version`) or a model registry (its current version)."""
        cfg = config or EngineConfig()
        store = SQLiteStore(db, durability=cfg.durability)
        checkpoint, current = resolve_model(model_dir)
        return cls(
            store,
            load_model(checkpoint, version if current is None else current, cfg.device),
            cfg,
            snapshot_path=Path(str(db) + ".state"),
        )

    def _load(self) -> None:
        data = self.store.to_dataset(events=False)  # events are replayed by _restore
        self.has_timestamps = data.has_timestamps
        self.items = ItemSide(self.store, data, self.model, self.config, self.event_types)
        self._user_tokens: dict[int, list[str]] = data.user_attributes.token_rows()
        self.profiles = AttributeProfiles(self.model.dim)
        self.reasons = Reasoner(self.items, self.event_types, self.has_timestamps)

    def _restore(self) -> None:
        """State = snapshot (if any) + every logged event after it."""
        start = 0
        if self.snapshot_path is not None and self.snapshot_path.exists():
            start = self.states.load_snapshot(self.snapshot_path)
        t0, n = time.perf_counter(), 0
        # Replayed states stay unpacked until the end: one pack per user, not per event.
        replayed: dict[int, UserState] = {}
        for event in self.store.read_events(after=0):
            self._count_popularity(event)
            if event.seq > start:
                state = replayed.get(event.user)
                if state is None:
                    state = replayed[event.user] = self._state(event.user)
                self._fold(state, event)
                n += 1
        for user, state in replayed.items():
            self.states.put(user, state.pack())
        self._applied_seq = self.store.last_seq()
        stale = [u for u in self.states.users() if self._needs_vector(u)]
        for chunk in range(0, len(stale), 1024):
            self._refresh(stale[chunk : chunk + 1024])
        self.profiles.rebuild(self._user_tokens, self._vector_of)
        _log.info(
            "engine restored",
            snapshot_seq=start,
            replayed=n,
            refreshed=len(stale),
            seconds=round(time.perf_counter() - t0, 3),
        )

    # -- model versions ------------------------------------------------------------------------

    def swap_model(self, model: InterestModel, *, background: bool = True) -> None:
        """Serve `model` from now on, without dropping a request.

        The new item index is built while the old one serves; the switch itself is a few
        assignments under the lock. User vectors are not recomputed at once: each user's V_u
        carries the version it was computed with, a request for a user with an older one
        recomputes it on the spot, and a background thread refreshes the rest in small batches
        (each holding the lock only briefly), then rebuilds the cold-start profiles.
        """
        with self._lock:
            n_indexed = len(self.store.items)
        index = self.items.prepare(model)
        with self._lock:
            old = self.model.version
            self.items.install(model, index, n_indexed)
            self.model = model
            self._kv.clear()
            self._explanations.clear()
            self._swaps += 1
            swap = self._swaps
        _log.info("model swapped", old_version=old, new_version=model.version)
        if background:
            thread = threading.Thread(
                target=self._refresh_all, args=(swap,), name="attune-refresh", daemon=True
            )
            thread.start()
            self._refresher = thread
        else:
            self._refresh_all(swap)

    def _refresh_all(self, swap: int, chunk: int = 256) -> None:
        """Recompute every stale V_u in chunks; stops early when another swap follows."""
        t0, done = time.perf_counter(), 0
        users = list(self.states.users())
        for start in range(0, len(users), chunk):
            if self._swaps != swap or self._closed:
                return
            with self._lock:
                stale = [u for u in users[start : start + chunk] if self._needs_vector(u)]
                if stale:
                    self._refresh(stale)
                    done += len(stale)
            time.sleep(0)  # let waiting requests take the lock between chunks
        with self._lock:
            if self._swaps == swap:
                self.profiles.rebuild(self._user_tokens, self._vector_of)
        _log.info(
            "user vectors refreshed",
            model_version=self.model.version,
            users=done,
            seconds=round(time.perf_counter() - t0, 3),
        )

    def wait_refreshed(self, timeout: float | None = None) -> None:
        """Block until the background refresh after the last swap has finished."""
        if self._refresher is not None:
            self._refresher.join(timeout)

    # -- state ---------------------------------------------------------------------------------

    def _state(self, user: int) -> UserState:
        pending = self._pending.get(user)
        if pending is not None:
            return pending
        raw = self.states.get(user)
        return UserState() if raw is None else UserState.unpack(raw)

    def _needs_vector(self, user: int) -> bool:
        s = self._state(user)
        return s.vector is None or s.model_version != self.model.version

    def _vector_of(self, user: int) -> np.ndarray | None:
        s = self._state(user)
        return None if s.vector is None else s.vector.astype(np.float32)

    def _count_popularity(self, e: LoggedEvent) -> None:
        if self._positive_mask[e.event_type]:
            self.items.popularity.add(e.item, e.timestamp, float(self._weights[e.event_type]))

    def _apply(self, e: LoggedEvent) -> None:
        """Fold an event into the user's state; it stays unpacked until `_refresh` stores it
        with the new V_u (one pack per user and batch instead of two per event)."""
        state = self._state(e.user)
        if self._fold(state, e):
            self._pending[e.user] = state

    def _fold(self, state: UserState, e: LoggedEvent) -> bool:
        """Apply one logged event to a state; False when it was applied before."""
        return fold_event(
            state,
            e,
            self.event_types,
            max_len=self.model.max_len,
            max_seen=self.config.max_seen,
            window=self.config.window,
        )

    def _refresh(self, users: list[int]) -> dict[int, np.ndarray | None]:
        """Recompute V_u of `users` in one batched forward; store them with the state.

        With `incremental`, users whose key/value cache is current extend it by their newest
        event instead; the rest (and everyone otherwise) take the plain full recompute.
        """
        with self._lock:
            states = {u: self._state(u) for u in users}
            for u in users:
                self._pending.pop(u, None)
            out: dict[int, np.ndarray | None] = {}
            full: list[int] = []
            for u, s in states.items():
                step = None
                if self.config.incremental and len(s.items):
                    step = self.model.extend_cached(self._kv.pop(u, None), s)
                if step is None:
                    full.append(u)
                else:
                    out[u] = step[0]
                    self._remember_kv(u, step[1])
                    self._explanations.pop(u, None)  # stale now; recomputed when asked
            tokens = [self.model.user_tokens(self._user_tokens.get(u, [])) for u in full]
            results = self.model.user_vectors([states[u] for u in full], tokens)
            for u, result in zip(full, results, strict=True):
                out[u] = None if result is None else result[0]
                if result is not None:
                    self._remember(
                        self._explanations,
                        u,
                        (states[u].last_seq, result[1]),
                        self.config.explain_cache_users,
                    )
                if self.config.incremental:
                    cache = self.model.build_cache(states[u])
                    if cache is not None:
                        self._remember_kv(u, cache)
            for u, s in states.items():
                vec = out[u]
                s.vector = None if vec is None else vec.astype(np.float16)
                s.model_version = self.model.version
                self.states.put(u, s.pack())
            return out

    @staticmethod
    def _remember(cache: OrderedDict[int, Any], key: int, value: Any, size: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)

    def _explanation(self, user: int, state: UserState) -> Explanation | None:
        """The attention behind the user's current V_u: cached from the refresh, or computed."""
        hit = self._explanations.get(user)
        if hit is not None and hit[0] == state.last_seq:
            return hit[1]
        tokens = self.model.user_tokens(self._user_tokens.get(user, []))
        expl = self.model.explain(state, tokens)
        if expl is not None:
            self._remember(
                self._explanations, user, (state.last_seq, expl), self.config.explain_cache_users
            )
        return expl

    def _remember_kv(self, user: int, cache: KVCache) -> None:
        self._remember(self._kv, user, cache, self.config.kv_cache_users)

    # -- ingest --------------------------------------------------------------------------------

    def ingest(self, events: Sequence[Interaction | Mapping[str, Any]]) -> IngestResult:
        """Validate, log durably, update state and V_u of every user touched, in that order.

        Bad events are rejected one by one (naming the field); the rest are accepted.
        """
        known = None
        if self.config.unknown_items == "reject":
            known = self.store.items.__contains__
        valid, rejected = validate_events(
            events,
            self.event_types,
            max_future_seconds=self.config.max_future_seconds,
            known_item=known,
        )
        if not valid:
            return IngestResult(0, rejected, 0)
        with self._lock:
            n_items = len(self.store.items)
            logged = self.store.append_events([e for _, e in valid], self.event_types)
            if len(self.store.items) > n_items:
                self.items.reindex(self.items.grow())
            for e in logged:
                self._count_popularity(e)
                self._apply(e)
            self.feedback.observe(logged)
            self._applied_seq = logged[-1].seq
            self._since_snapshot += len(logged)
        users = list(dict.fromkeys(e.user for e in logged))
        if len(users) <= self.config.sync_refresh_users:
            self._batcher.run(users)
        else:
            self._defer_refresh()
        if self.config.snapshot_every and self._since_snapshot >= self.config.snapshot_every:
            self.snapshot()
        return IngestResult(len(logged), rejected, logged[-1].seq)

    def _defer_refresh(self) -> None:
        """Leave the V_u of the users in `_pending` to the backlog worker; past
        `max_refresh_backlog` users, refresh the oldest here first."""
        with self._lock:
            while len(self._pending) > self.config.max_refresh_backlog:
                self._refresh(list(itertools.islice(self._pending, _BACKLOG_CHUNK)))
            if self._backlog_worker is None or not self._backlog_worker.is_alive():
                self._backlog_worker = threading.Thread(
                    target=self._work_backlog, name="attune-backlog", daemon=True
                )
                self._backlog_worker.start()
            self._backlog.notify_all()

    def _work_backlog(self) -> None:
        """Refresh the users in `_pending`, oldest first, in small chunks: each holds the lock
        for a few milliseconds, so requests interleave with the work."""
        while not self._closed:
            with self._lock:
                if not self._pending:
                    self._backlog.notify_all()  # wakes wait_backlog
                    self._backlog.wait(timeout=1.0)
                    continue
                self._refresh(list(itertools.islice(self._pending, _BACKLOG_CHUNK)))
            time.sleep(0)  # let waiting requests take the lock between chunks

    @property
    def refresh_backlog(self) -> int:
        """Users whose state changed and whose V_u is not recomputed yet."""
        return len(self._pending)

    def wait_backlog(self, timeout: float | None = None) -> bool:
        """Block until every pending V_u is refreshed; False on timeout."""
        with self._lock:
            return self._backlog.wait_for(lambda: not self._pending, timeout)

    def upsert_items(self, updates: Sequence[ItemUpdate]) -> None:
        with self._lock:
            self.store.upsert_items(list(updates))
            self.items.upsert(updates)

    def upsert_users(self, updates: Sequence[UserUpdate]) -> None:
        with self._lock:
            self.store.upsert_users(list(updates))
            for u in updates:
                self._user_tokens[self.store.users.index(u.user_id)] = attribute_tokens(
                    u.attributes
                )

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase a user's events, state and attributes; returns what was removed."""
        with self._lock:
            idx = self.store.users.get(user_id)
            if idx < 0:
                raise UnknownUserError(user_id)
            unwritten = self.feedback.forget(idx)  # before a flush could store them
            removed = self.store.erase_user(user_id)
            removed["impressions"] = removed.get("impressions", 0) + unwritten
            self._pending.pop(idx, None)
            removed["state"] = int(self.states.delete(idx))
            self._kv.pop(idx, None)
            self._user_tokens.pop(idx, None)
            # A snapshot would still hold the user's state: rewrite it now.
            self.snapshot()
            return removed

    def snapshot(self) -> None:
        if self.snapshot_path is None:
            return
        with self._lock:
            # Events folded but not stored yet belong in the snapshot; their V_u is left to
            # the backlog (or to the restore), not computed in the request that snapshots.
            for user, state in self._pending.items():
                self.states.put(user, state.pack())
            self.states.save_snapshot(self.snapshot_path, self._applied_seq)
            self.feedback.flush()
            self._since_snapshot = 0

    def close(self) -> None:
        self._closed = True
        self.wait_refreshed()
        if self._backlog_worker is not None:
            with self._lock:
                self._backlog.notify_all()
            self._backlog_worker.join()
        self.snapshot()
        with self._lock:
            self.feedback.flush()  # the buffered impressions (also without a snapshot path)
        self.store.close()

    # -- reads ---------------------------------------------------------------------------------

    def user_vector(self, user_id: str) -> np.ndarray | None:
        idx = self.store.users.get(user_id)
        if idx < 0:
            return None
        with self._lock:
            if idx in self._pending:  # not reached by the backlog yet
                self._refresh([idx])
            return self._vector_of(idx)

    def history(self, user_id: str) -> list[tuple[str, str, float]]:
        """The user's recent positive window: (item id, event type, time), oldest first."""
        idx = self._user_index(user_id)
        s = self._state(idx)
        names = self.event_types.names
        return [
            (self.store.items.external(int(i)), names[int(t)], float(ts))
            for i, t, ts in zip(s.items, s.types, s.times, strict=True)
        ]

    def _user_index(self, user_id: str) -> int:
        idx = self.store.users.get(user_id)
        if idx < 0:
            raise UnknownUserError(user_id)
        return idx

    def _item_index(self, item_id: str) -> int:
        idx = self.store.items.get(item_id)
        if idx < 0:
            raise UnknownItemError(item_id)
        return idx

    # -- recommend -----------------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        filters: FilterSpec | None = None,
        exclude: Sequence[str] = (),
        diversity: float | None = None,
        explore: float | None = None,
        now: float | None = None,
    ) -> Recommendations:
        """Top-k for a user, filtered, diversified and explored, each item with its reason.

        Unknown users get the cold-start chain (attribute profile, then popularity).
        """
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be in [1, {self.config.max_k}]")
        spec = filters or self.config.default_filter
        if exclude:
            spec = spec.model_copy(update={"exclude_items": [*spec.exclude_items, *exclude]})
        ranking = self.config.ranking
        if diversity is not None or explore is not None:
            ranking = ranking.model_copy(
                update={
                    "diversity": ranking.diversity.model_copy(
                        update={
                            "mmr_lambda": ranking.diversity.mmr_lambda
                            if diversity is None
                            else diversity
                        }
                    ),
                    "exploration": ranking.exploration.model_copy(
                        update={"share": ranking.exploration.share if explore is None else explore}
                    ),
                }
            )
        now = time.time() if now is None else now
        with self._lock:
            idx = self.store.users.get(user_id)
            state = self._state(idx) if idx >= 0 else UserState()
            query, source = self._query(idx, state)
            user_items = _user_items(state)
            ctx = RankContext(
                index=self.items.index,
                filter=self.items.filters.get(spec),
                now=now,
                user=user_items,
                popularity=self.items.popularity,
                exposures=self.items.exposures,
            )
            ranked = rank(query, k, ctx, ranking, self._rng)
            self.items.exposures[[r.item for r in ranked]] += 1
            tokens = self._user_tokens.get(idx, [])
            expl = self._explanation(idx, state) if source == "model" else None
            reasons = self.reasons.for_list(ranked, state, expl, source, tokens, now)
            items = [
                Recommended(self.store.items.external(r.item), r.score, reason)
                for r, reason in zip(ranked, reasons, strict=True)
            ]
            rec_id, version = uuid.uuid4().hex, self.model.version
            self.feedback.record(
                rec_id,
                idx if idx >= 0 else None,
                now,
                version,
                source,
                [r.item for r in ranked],
                [reason.kind for reason in reasons],
            )
        return Recommendations(rec_id, user_id, items, version, source)

    def _query(self, idx: int, state: UserState) -> tuple[np.ndarray | None, str]:
        if state.vector is not None and state.model_version == self.model.version:
            return state.vector.astype(np.float32), "model"
        if (
            idx >= 0
            and len(state.items)
            and (state.model_version != self.model.version or idx in self._pending)
        ):
            # Called under the lock: refresh directly. Waiting on the micro-batcher here could
            # deadlock with a combining thread that waits for the lock we hold.
            vec = self._refresh([idx]).get(idx)
            if vec is not None:
                return vec.astype(np.float16).astype(np.float32), "model"
        for fallback in self.config.fallbacks:
            if fallback == "attributes":
                vec = self.profiles.vector(self._user_tokens.get(idx, []))
                if vec is not None:
                    return vec, "attributes"
            elif fallback == "popularity":
                return None, "popularity"
        return None, "popularity"

    def explain(self, user_id: str, item_id: str, now: float | None = None) -> Reason:
        """Why `item_id` scores as it does for `user_id`: the history events behind it."""
        with self._lock:
            idx = self._user_index(user_id)
            item = self._item_index(item_id)
            state = self._state(idx)
            if not bool(self.items.index.contains(np.array([item]))[0]):
                return Reason("unscored", "the model has no vector for this item yet")
            expl = self._explanation(idx, state)
            when = time.time() if now is None else now
            return self.reasons.similar_many(np.array([item]), state, expl, when)[0]

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """Items whose vectors are closest to `item_id`'s (the item itself excluded)."""
        if not 1 <= k <= self.config.max_k:
            raise ValueError(f"k must be in [1, {self.config.max_k}]")
        with self._lock:
            item = self._item_index(item_id)
            if not bool(self.items.index.contains(np.array([item]))[0]):
                return []
            vec = self.items.index.vectors(np.array([item]))
            ids, scores = self.items.index.search(vec, k, exclude=[np.array([item])])
        return [
            (self.store.items.external(int(i)), float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if i >= 0
        ]


def load_model(checkpoint: str | Path, version: int, device: str = "cpu") -> InterestModel:
    """A checkpoint as the engine serves it (`CheckpointError` when it cannot be read); an
    ensemble checkpoint comes back as one model over its members."""
    resolved = resolve_device(device)
    return serving_model(load_members(checkpoint, device=resolved), version, str(resolved))


def _user_items(state: UserState) -> UserItems:
    """The filter's view of a user: one (item, event type) row per type bit of each seen
    item, the hidden items and the negatively rated items."""
    items, types = seen_pairs(state.seen_items, state.seen_types)
    return UserItems(items, types, state.hidden.astype(np.int64), state.negative.astype(np.int64))


_BACKLOG_CHUNK = 64
"""Users per background refresh step (a few milliseconds of the lock each)."""
_BITS = np.arange(32, dtype=np.uint32)


def seen_pairs(seen_items: np.ndarray, seen_types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(items, event types): one row per set bit of each item's type mask, items in order and
    bits ascending within an item; vectorised, as `seen_pairs_reference` spells it out."""
    masks = seen_types.astype(np.uint32)
    width = int(masks.max()).bit_length() if len(masks) else 0
    rows, bits = np.nonzero((masks[:, None] >> _BITS[:width]) & 1)
    return seen_items[rows].astype(np.int64), bits.astype(np.int64)


def seen_pairs_reference(
    seen_items: np.ndarray, seen_types: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    items, types = [], []
    for item, mask in zip(seen_items.tolist(), seen_types.tolist(), strict=True):
        bit = 0
        while mask:
            if mask & 1:
                items.append(item)
                types.append(bit)
            mask >>= 1
            bit += 1
    return np.asarray(items, np.int64), np.asarray(types, np.int64)
