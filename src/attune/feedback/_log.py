"""Impressions of served lists, joined online to the events that name them.

Every served list is an `Impression`. An event carrying a `recommendation_id` is joined to it
when the event's item is in the list, the event is by the list's user and falls inside the
attribution window; each list item is then clicked and converted at most once. Anything else
naming a recommendation id counts as unattributed: never an error, never a rejected event.
An event naming none on an item its user was shown inside the window counts as untagged: it
could have named the list.

Impressions are buffered and written in batches so that a recommendation does not pay a
commit; recent ones stay in memory for the join, older ones are read back from the store
(with the events already joined to them, so that a click is still counted once).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from attune.data.events import EventTypes
from attune.feedback._config import FeedbackConfig, Outcomes
from attune.feedback._shown import ShownToUsers
from attune.feedback._summary import FeedbackSummary, Tally
from attune.log import get_logger
from attune.ports import FeedbackCounts, Impression, ImpressionLog, LoggedEvent

_log = get_logger(__name__)


@dataclass(slots=True)
class _Live:
    """An impression and which of its positions were clicked and converted so far."""

    impression: Impression
    clicked: set[int] | None = None
    converted: set[int] | None = None


@dataclass(frozen=True, slots=True)
class _Hit:
    position: int
    click: bool
    """A first click on this position."""
    conversion: bool
    """A first conversion of this position."""


class FeedbackLog:
    """Records impressions, joins events to them, and keeps the counts for `/metrics`.

    The counts start from the store's report when opened (one SQL pass over the impressions
    and the events that name a list), so they cover everything stored, not only this process.
    Callers serialise `record`, `observe`, `flush` and `forget` with the store's other writes
    (the engine holds its lock); `summary` and `tally` may be called from any thread and never
    wait for the database.
    """

    def __init__(
        self, store: ImpressionLog, event_types: EventTypes, config: FeedbackConfig
    ) -> None:
        self.store = store
        self.config = config
        self.outcomes = Outcomes.resolve(config, event_types)
        self._lock = threading.RLock()
        self._counting = threading.Lock()
        """Guards `_tally` alone, so that readers never wait behind a database call."""
        self._recent: OrderedDict[str, _Live] = OrderedDict()
        self._buffer: dict[str, _Live] = {}
        """Lists not written yet (also findable when `_recent` has dropped them)."""
        self._adopted: dict[str, int] = {}
        """Stored lists of unknown users that an event has since given a user."""
        self._oldest: float | None = None
        """Monotonic time of the oldest unwritten change."""
        self._shown = ShownToUsers(config.shown_lists, self.outcomes.window_s)
        self._tally = Tally()
        if config.enabled:
            store.save_definition(config.model_dump(mode="json"))
            self._tally = tally_of(store.report(self.outcomes))

    # -- writes ----------------------------------------------------------------------------

    def record(
        self,
        recommendation_id: str,
        user: int | None,
        ts: float,
        model_version: int,
        source: str,
        items: Sequence[int],
        reasons: Sequence[str],
        experiment: str = "",
        arm: str = "",
    ) -> None:
        """Log one served list (written with the next batch); `experiment` and `arm` name
        the online A/B test and arm it was served in, if any."""
        if not self.config.enabled:
            return
        if len(items) != len(reasons):
            raise ValueError("one reason per item is needed")
        imp = Impression(
            recommendation_id,
            user,
            ts,
            model_version,
            source,
            tuple(items),
            tuple(reasons),
            experiment,
            arm,
        )
        with self._lock:
            live = _Live(imp)
            self._buffer[recommendation_id] = live
            self._remember(live)
            if user is not None:
                self._shown.add(user, ts, imp.items)
            with self._counting:
                self._tally.lists[model_version] = self._tally.lists.get(model_version, 0) + 1
                for reason in imp.reasons:
                    self._tally.counts(model_version, reason).items += 1
                if experiment:
                    served = self._tally.arm(experiment, arm)
                    served.lists += 1
                    served.items += len(imp.items)
            self._touched()

    def observe(self, events: Sequence[LoggedEvent]) -> None:
        """Join logged events that name a recommendation id to their lists and count them;
        count those that name none but could have (`untagged`)."""
        if not self.config.enabled:
            return
        with self._lock:
            for e in events:
                if e.recommendation_id is None:
                    if self._shown.shown(e.user, e.item, e.timestamp):
                        with self._counting:
                            self._tally.untagged += 1
                    continue
                live = self._find(e.recommendation_id, e.seq)
                hit = None if live is None else self._join(live, e)
                with self._counting:
                    if live is None or hit is None:
                        self._tally.unattributed += 1
                        continue
                    imp = live.impression
                    counts = self._tally.counts(imp.model_version, imp.reasons[hit.position])
                    counts.clicks += hit.click
                    counts.conversions += hit.conversion
                    if imp.experiment:
                        arm = self._tally.arm(imp.experiment, imp.arm)
                        arm.clicks += hit.click
                        arm.conversions += hit.conversion
            self._flush_if_due()

    def flush(self) -> None:
        """Write the buffered impressions now (the engine calls this on snapshot and close)."""
        with self._lock:
            if not self._buffer and not self._adopted:
                return
            lists = [live.impression for live in self._buffer.values()]
            self.store.write(lists, self._adopted)
            self._buffer, self._adopted, self._oldest = {}, {}, None
            _log.debug("impressions written", lists=len(lists))

    def forget(self, user: int) -> int:
        """Drop a user's impressions from memory (the store erases its own rows); returns how
        many unwritten ones were dropped. The counts keep them: they hold no user."""
        with self._lock:
            mine = [rid for rid, live in self._recent.items() if live.impression.user == user]
            for rid in mine:
                del self._recent[rid]
            unwritten = [rid for rid, live in self._buffer.items() if live.impression.user == user]
            for rid in unwritten:
                del self._buffer[rid]
            self._adopted = {rid: u for rid, u in self._adopted.items() if u != user}
            self._shown.forget(user)
            return len(unwritten)

    # -- reads -----------------------------------------------------------------------------

    def tally(self) -> Tally:
        """A copy of the counts."""
        with self._counting:
            return self._tally.copy()

    def summary(self) -> FeedbackSummary:
        return self.tally().summary()

    def pending(self) -> int:
        """Lists buffered and not written yet."""
        with self._lock:
            return len(self._buffer)

    # -- the join --------------------------------------------------------------------------

    def _join(self, live: _Live, e: LoggedEvent) -> _Hit | None:
        """Attribute one event to a list, or None when it does not belong to it."""
        imp = live.impression
        position = imp.position(e.item)
        if position is None or e.timestamp > imp.ts + self.outcomes.window_s:
            return None
        if imp.user is None:
            live.impression = replace(imp, user=e.user)
            self._shown.add(e.user, imp.ts, imp.items)
            if imp.recommendation_id not in self._buffer:
                self._adopted[imp.recommendation_id] = e.user
                self._touched()
        elif imp.user != e.user:
            return None
        click = conversion = False
        if self.outcomes.is_click(e.event_type, e.value):
            if live.clicked is None:
                live.clicked = set()
            click = position not in live.clicked
            live.clicked.add(position)
        if self.outcomes.is_conversion(e.event_type, e.value):
            if live.converted is None:
                live.converted = set()
            conversion = position not in live.converted
            live.converted.add(position)
        return _Hit(position, click, conversion)

    def _find(self, recommendation_id: str, seq: int) -> _Live | None:
        live = self._recent.get(recommendation_id)
        if live is not None:
            self._recent.move_to_end(recommendation_id)
            return live
        live = self._buffer.get(recommendation_id)
        if live is not None:
            return live
        stored = self.store.get(recommendation_id)
        if stored is None:
            return None
        # Replay what was joined before, so that a second click is not counted again.
        live = _Live(stored)
        for earlier in self.store.events_before(recommendation_id, seq):
            self._join(live, earlier)
        self._remember(live)
        return live

    def _remember(self, live: _Live) -> None:
        size = self.config.recent_lists
        if size == 0:
            return
        self._recent[live.impression.recommendation_id] = live
        self._recent.move_to_end(live.impression.recommendation_id)
        while len(self._recent) > size:
            self._recent.popitem(last=False)

    def _touched(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()
        self._flush_if_due()

    def _flush_if_due(self) -> None:
        if self._oldest is None:
            return
        full = len(self._buffer) >= self.config.flush_lists
        if full or time.monotonic() - self._oldest >= self.config.flush_seconds:
            self.flush()


def tally_of(counts: FeedbackCounts) -> Tally:
    """A storage's report as the `Tally` the online join keeps."""
    tally = Tally(
        lists=dict(counts.lists),
        unattributed=counts.unattributed,
        untagged=counts.untagged,
        arms={k: replace(v) for k, v in counts.arms.items()},
    )
    for key, items in counts.shown.items():
        tally.counts(*key).items = items
    for key, (clicks, conversions) in counts.reacted.items():
        c = tally.counts(*key)
        c.clicks, c.conversions = clicks, conversions
    return tally
