"""A user's real-time state: recent positive events, seen and negative items, and V_u.

State is bounded (the last `max_len` positive events, at most `max_seen` seen items) and packed
into one compact `bytes` value, so that a million users fit in a few hundred MB and a shared
backend (Redis) can hold the same bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from attune.data.events import DEFAULT_WINDOW, HIDE_EVENT, EventTypes, WindowRule, enters_window
from attune.ports import LoggedEvent

# format, n_hist, n_seen, n_neg, n_hidden, dim, model_version, last_seq
_HEADER = struct.Struct("<BHHHHHIq")
_FORMAT = 1


def _empty(dtype: type) -> np.ndarray:
    return np.empty(0, dtype)


@dataclass
class UserState:
    """Everything the engine keeps per user between events."""

    items: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    """Internal item indices of the last positive events, oldest first."""
    types: np.ndarray = field(default_factory=lambda: _empty(np.int8))
    """Event-type code of each of those events."""
    times: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    """Time of each of those events, seconds since the epoch."""
    seen_items: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    """Every item the user interacted with (most recent `max_seen`), sorted."""
    seen_types: np.ndarray = field(default_factory=lambda: _empty(np.uint32))
    """Bit mask of the event types seen on each seen item (bit k = type code k)."""
    negative: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    """Items the user rejected (dislike, skip, low rating), sorted."""
    hidden: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    """Items the user asked never to see again (`hide` events), sorted."""
    vector: np.ndarray | None = None
    """V_u as float16, or None when it must be (re)computed."""
    model_version: int = 0
    """Model version `vector` was computed with; 0 when there is none."""
    last_seq: int = 0
    """Log position of the last event applied: replaying older events is a no-op."""
    unfolded: int = 0
    """Events of a shared store's tail folded into this object since it was read, not stored
    with it yet (never packed: 0 in every unpacked state)."""

    def has_vector_of(self, version: int, dim: int) -> bool:
        """Whether `vector` is a V_u of the model serving now: its version and its width. A
        shared store may hold states computed by another model with the same version number
        (two checkpoints served directly are both version 1)."""
        return self.vector is not None and self.model_version == version and len(self.vector) == dim

    def apply(
        self,
        item: int,
        event_type: int,
        timestamp: float,
        positive: bool,
        seq: int,
        *,
        max_len: int,
        max_seen: int,
        hide: bool = False,
        in_window: bool | None = None,
    ) -> bool:
        """Fold one event into the state; False if the event was already applied.

        `in_window` says whether the event enters the model's window (default: when positive);
        a negative event may enter it too, when the model was trained on every event.
        """
        if seq and seq <= self.last_seq:
            return False
        self.last_seq = max(self.last_seq, seq)
        if hide:
            self.hidden = _insert_sorted(self.hidden, item)
        if positive if in_window is None else in_window:
            self.items = _push(self.items, item, max_len)
            self.types = _push(self.types, event_type, max_len)
            self.times = _push(self.times, timestamp, max_len)
        if positive:
            if len(self.negative) and item in self.negative:
                # A positive event after a rejection means the user changed their mind.
                self.negative = self.negative[self.negative != item]
        else:
            self.negative = _insert_sorted(self.negative, item)
        # After the window update, so that eviction from the seen set never picks an item
        # that is in the window.
        self._mark_seen(item, event_type, max_seen)
        self.vector = None
        return True

    def _mark_seen(self, item: int, event_type: int, max_seen: int) -> None:
        bit = np.uint32(1 << event_type)
        pos = bisect.bisect_left(self.seen_items, item)  # = searchsorted, without numpy's overhead
        if pos < len(self.seen_items) and self.seen_items[pos] == item:
            self.seen_types[pos] |= bit
            return
        self.seen_items = _insert_at(self.seen_items, pos, item)
        self.seen_types = _insert_at(self.seen_types, pos, bit)
        if len(self.seen_items) > max_seen:
            # Forget the seen item that is not in the recent window and has the lowest index;
            # cheap, bounded, and recent items stay filtered.
            recent = np.isin(self.seen_items, self.items)
            drop = int(np.argmin(recent))
            self.seen_items = np.delete(self.seen_items, drop)
            self.seen_types = np.delete(self.seen_types, drop)

    def window_key(self) -> bytes:
        """A digest of the window (items, types, times): what a forward of this state reads,
        so it tells exactly whether a cached forward or explanation belongs to this state.
        (`last_seq` does not on a shared store, where an event can be folded before the log
        gave it a seq.)"""
        digest = hashlib.blake2b(digest_size=16)
        for part in (self.items, self.types, self.times):
            digest.update(part.tobytes())
        return digest.digest()

    def seen_with_types(self, event_types_mask: int) -> np.ndarray:
        """Seen items that had at least one event of a type in `event_types_mask`."""
        return self.seen_items[(self.seen_types & np.uint32(event_types_mask)) != 0]

    # -- packing ---------------------------------------------------------------------------

    def pack(self) -> bytes:
        vec = (
            np.empty(0, np.float16)
            if self.vector is None
            else self.vector.astype(np.float16, copy=False)
        )
        header = _HEADER.pack(
            _FORMAT,
            len(self.items),
            len(self.seen_items),
            len(self.negative),
            len(self.hidden),
            len(vec),
            self.model_version,
            self.last_seq,
        )
        return b"".join(
            (
                header,
                self.items.astype(np.int32, copy=False).tobytes(),
                self.types.astype(np.int8, copy=False).tobytes(),
                self.times.astype(np.float64, copy=False).tobytes(),
                self.seen_items.astype(np.int32, copy=False).tobytes(),
                self.seen_types.astype(np.uint32, copy=False).tobytes(),
                self.negative.astype(np.int32, copy=False).tobytes(),
                self.hidden.astype(np.int32, copy=False).tobytes(),
                vec.tobytes(),
            )
        )

    @staticmethod
    def unpack(data: bytes) -> UserState:
        fmt, n_hist, n_seen, n_neg, n_hidden, dim, version, last_seq = _HEADER.unpack_from(data)
        if fmt != _FORMAT:
            raise ValueError(f"unknown user state format {fmt}")
        off = _HEADER.size

        def take(dtype: type, n: int) -> np.ndarray:
            nonlocal off
            arr: np.ndarray = np.frombuffer(data, dtype, n, off).copy()
            off += arr.nbytes
            return arr

        items, types, times = (
            take(np.int32, n_hist),
            take(np.int8, n_hist),
            take(np.float64, n_hist),
        )
        seen_items, seen_types = take(np.int32, n_seen), take(np.uint32, n_seen)
        negative, hidden = take(np.int32, n_neg), take(np.int32, n_hidden)
        vec = take(np.float16, dim) if dim else None
        return UserState(
            items, types, times, seen_items, seen_types, negative, hidden, vec, version, last_seq
        )


# np.insert and np.append are general (axes, any shape) and cost several microseconds of
# argument handling each; these 1-D versions are what the per-event path needs.


def _insert_at(values: np.ndarray, pos: int, value: float | np.generic) -> np.ndarray:
    out = np.empty(len(values) + 1, values.dtype)
    out[:pos] = values[:pos]
    out[pos] = value
    out[pos + 1 :] = values[pos:]
    return out


def _push(values: np.ndarray, value: float, max_len: int) -> np.ndarray:
    """`values` with `value` appended, keeping the last `max_len`."""
    keep = values[len(values) - max_len + 1 :] if len(values) >= max_len else values
    out = np.empty(len(keep) + 1, values.dtype)
    out[:-1] = keep
    out[-1] = value
    return out


def _insert_sorted(values: np.ndarray, item: int) -> np.ndarray:
    pos = bisect.bisect_left(values, item)
    if pos < len(values) and values[pos] == item:
        return values
    return _insert_at(values, pos, item)


def fold_event(
    state: UserState,
    event: LoggedEvent,
    event_types: EventTypes,
    *,
    max_len: int,
    max_seen: int,
    window: WindowRule = DEFAULT_WINDOW,
) -> bool:
    """Apply one logged event to a state as the engine does; False when applied before."""
    name = event_types.names[event.event_type]
    positive = event_types.is_positive(name, None if math.isnan(event.value) else event.value)
    hide = name == HIDE_EVENT
    return state.apply(
        event.item,
        event.event_type,
        event.timestamp,
        positive,
        event.seq,
        max_len=max_len,
        max_seen=max_seen,
        hide=hide,
        in_window=enters_window(name, positive, window),
    )
