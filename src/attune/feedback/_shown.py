"""The lists served lately, by user: whether an event that names no list is on an item its
user was shown, and so could have named the list (the feedback's `untagged` count)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class ShownToUsers:
    """The items of the newest `capacity` lists this process served, by user. Full, it drops
    the oldest list of the user served least recently; 0 keeps nothing. Lists it does not
    hold (dropped, or served by another server on a shared store) count only in the report
    read at start."""

    def __init__(self, capacity: int, window_s: float) -> None:
        self._capacity = capacity
        self._window_s = window_s
        self._by_user: OrderedDict[int, list[tuple[float, frozenset[int]]]] = OrderedDict()
        self._size = 0

    def add(self, user: int, ts: float, items: Sequence[int]) -> None:
        """A list served to `user` at `ts` (or one whose user became known)."""
        if self._capacity == 0:
            return
        lists = self._by_user.setdefault(user, [])
        self._by_user.move_to_end(user)
        lists.append((ts, frozenset(items)))
        self._size += 1
        while self._size > self._capacity:
            oldest_user, oldest = next(iter(self._by_user.items()))
            oldest.pop(0)
            self._size -= 1
            if not oldest:
                del self._by_user[oldest_user]

    def shown(self, user: int, item: int, ts: float) -> bool:
        """Whether `item` was in a list served to `user` at most the window before `ts`."""
        return any(
            served <= ts <= served + self._window_s and item in items
            for served, items in self._by_user.get(user, ())
        )

    def forget(self, user: int) -> None:
        self._size -= len(self._by_user.pop(user, ()))
