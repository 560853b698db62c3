"""Impressions in a dictionary, and the feedback report as a plain Python join.

The join spells out the rules the SQLite backend's report runs as SQL, so the contract suite
can hold the two to the same counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from attune.ports import ArmCounts, FeedbackCounts, Impression, LoggedEvent, OutcomeRules
from attune.stores.memory.events import MemoryEventLog


class MemoryImpressions:
    """`ImpressionLog` in memory, joined against a `MemoryEventLog`."""

    def __init__(self, log: MemoryEventLog) -> None:
        self._log = log
        self.stored: dict[str, Impression] = {}
        self._definition: str | None = None
        """JSON text, as the SQLite backend keeps it: what is read back is a fresh copy."""

    def write(self, impressions: Sequence[Impression], adopted: Mapping[str, int]) -> None:
        for i in impressions:
            self.stored.setdefault(i.recommendation_id, i)
        for rid, user in adopted.items():
            hit = self.stored.get(rid)
            if hit is not None and hit.user is None:
                self.stored[rid] = replace(hit, user=user)

    def get(self, recommendation_id: str) -> Impression | None:
        return self.stored.get(recommendation_id)

    def events_before(self, recommendation_id: str, seq: int) -> list[LoggedEvent]:
        return [
            e
            for e in self._log.read_events()
            if e.recommendation_id == recommendation_id and e.seq < seq
        ]

    def count(self, user: int | None = None) -> int:
        return sum(user is None or i.user == user for i in self.stored.values())

    def delete_before(self, ts: float) -> int:
        doomed = [rid for rid, i in self.stored.items() if i.ts < ts]
        for rid in doomed:
            del self.stored[rid]
        return len(doomed)

    def erase_user(self, user: int) -> int:
        doomed = [rid for rid, i in self.stored.items() if i.user == user]
        for rid in doomed:
            del self.stored[rid]
        return len(doomed)

    def save_definition(self, definition: Mapping[str, Any]) -> None:
        self._definition = json.dumps(dict(definition), sort_keys=True)

    def definition(self) -> dict[str, Any] | None:
        return None if self._definition is None else dict(json.loads(self._definition))

    def report(self, rules: OutcomeRules) -> FeedbackCounts:
        return feedback_report(self.stored, self._log.read_events(), rules)


def feedback_report(
    stored: Mapping[str, Impression], events: Iterable[LoggedEvent], rules: OutcomeRules
) -> FeedbackCounts:
    """Impressions joined to the logged events that name them, counted (the SQL report's
    rules, spelled out; the Redis backend runs the same join)."""
    out = FeedbackCounts()
    for i in stored.values():
        out.lists[i.model_version] = out.lists.get(i.model_version, 0) + 1
        for reason in i.reasons:
            key = (i.model_version, reason)
            out.shown[key] = out.shown.get(key, 0) + 1
        if i.experiment:
            arm = out.arms.setdefault((i.experiment, i.arm), ArmCounts())
            arm.lists += 1
            arm.items += len(i.items)
    reacted: dict[tuple[str, int], tuple[tuple[int, str], bool, bool]] = {}
    by_user: dict[int, list[Impression]] = {}
    for i in stored.values():
        if i.user is not None:
            by_user.setdefault(i.user, []).append(i)
    for e in events:
        if e.recommendation_id is None:
            out.untagged += _shown_before(by_user.get(e.user, ()), e, rules)
            continue
        joined = _joins(stored, e, rules)
        if not joined:
            out.unattributed += 1
        for key, position in joined:
            click, conversion = _is(e, rules.clicks, rules), _is(e, rules.conversions, rules)
            _, c0, v0 = reacted.get((e.recommendation_id, position), (key, False, False))
            reacted[(e.recommendation_id, position)] = (key, c0 or click, v0 or conversion)
    for (rid, _), (key, click, conversion) in reacted.items():
        clicks, conversions = out.reacted.get(key, (0, 0))
        out.reacted[key] = (clicks + click, conversions + conversion)
        served = stored[rid]
        if served.experiment:
            arm = out.arms[(served.experiment, served.arm)]
            arm.clicks += click
            arm.conversions += conversion
    return out


def _joins(
    stored: Mapping[str, Impression], e: LoggedEvent, rules: OutcomeRules
) -> list[tuple[tuple[int, str], int]]:
    """((version, reason), position) of every shown item the event joins."""
    i = stored.get(e.recommendation_id or "")
    if i is None or (i.user is not None and i.user != e.user):
        return []
    if e.timestamp > i.ts + rules.window_s:
        return []
    return [
        ((i.model_version, i.reasons[p]), p) for p, item in enumerate(i.items) if item == e.item
    ]


def _shown_before(lists: Iterable[Impression], e: LoggedEvent, rules: OutcomeRules) -> bool:
    """Whether one of the user's `lists`, served at most the window before `e`, showed its
    item: the event could have named that list."""
    return any(i.ts <= e.timestamp <= i.ts + rules.window_s and e.item in i.items for i in lists)


def _is(e: LoggedEvent, codes: frozenset[int], rules: OutcomeRules) -> bool:
    if e.event_type not in codes:
        return False
    if e.event_type not in rules.ratings:
        return True
    return math.isnan(e.value) or e.value >= rules.rating_threshold
