"""Business-rule filters: a validated `FilterSpec` compiled into a boolean mask over items.

Compilation does the per-spec work once (attribute include/exclude, blocklist, excluded ids)
into a read-only base mask; each request then costs one copy of that mask, the cached
availability mask, and scatters of the user's few item ids.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from attune.data.events import EventTypes
from attune.ranking.catalogue import ItemCatalogue
from attune.schemas.filters import FilterSpec


@dataclass(frozen=True)
class UserItems:
    """A user's items that filters may remove, as internal item ids."""

    seen_items: np.ndarray
    """Items the user interacted with (one row per event is fine: duplicates are harmless)."""
    seen_event_types: np.ndarray
    """Event type code (into `EventTypes.names`) of each `seen_items` row."""
    hidden: np.ndarray
    """Items the user asked never to see again: always removed."""
    negative: np.ndarray
    """Items with a negative reaction: removed when `exclude_negative`."""

    def __post_init__(self) -> None:
        if len(self.seen_items) != len(self.seen_event_types):
            raise ValueError("seen_items and seen_event_types differ in length")

    @staticmethod
    def empty() -> UserItems:
        none = np.empty(0, np.int64)
        return UserItems(none, np.empty(0, np.int16), none, none)


def _drop(mask: np.ndarray, ids: np.ndarray) -> None:
    ids = np.asarray(ids, np.int64)
    mask[ids[(ids >= 0) & (ids < len(mask))]] = False


@dataclass(frozen=True)
class CompiledFilter:
    """A `FilterSpec` bound to one catalogue version, evaluated per request.

    Two parts, because they have different shapes: rules for everyone (`shared_mask`, a
    cached mask over the catalogue) and the user's own removals (`user_excluded`, a short id
    list). Indexes take them apart too: a long mask is checked inside the search, a short
    list is over-fetched and dropped. `mask()` combines both.
    """

    spec: FilterSpec
    catalogue: ItemCatalogue
    version: int
    base: np.ndarray
    """Read-only mask of what the spec and the global blocklist allow, before time and user."""
    reconsumable: np.ndarray
    """Event type codes that do not count as seen."""
    _shared: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_current(self) -> bool:
        """False once the catalogue changed after compilation: compile again."""
        return self.version == self.catalogue.version

    def shared_mask(self, now: float) -> np.ndarray:
        """Read-only mask of the rules that hold for every user at `now`.

        Reused while the catalogue's availability stays the same, so a request costs no
        pass over the catalogue.
        """
        if not self.is_current:
            raise RuntimeError("the catalogue changed since this filter was compiled")
        if not self.spec.respect_availability:
            return self.base
        available = self.catalogue.available(now)
        if self._shared.get("available") is not available:
            shared = self.base & available
            shared.setflags(write=False)
            self._shared.update(available=available, mask=shared)
        out = self._shared["mask"]
        assert isinstance(out, np.ndarray)
        return out

    def user_excluded(self, user: UserItems | None) -> np.ndarray:
        """Item ids this user must not get (hidden, seen as configured, negative), unique."""
        if user is None:
            return np.empty(0, np.int64)
        parts = [np.asarray(user.hidden, np.int64)]
        if self.spec.exclude_seen:
            counts = ~np.isin(user.seen_event_types, self.reconsumable)
            parts.append(np.asarray(user.seen_items, np.int64)[counts])
        if self.spec.exclude_negative:
            parts.append(np.asarray(user.negative, np.int64))
        return np.unique(np.concatenate(parts))

    def mask(self, now: float, user: UserItems | None = None) -> np.ndarray:
        """Boolean mask over all items: True = may be recommended to this user now."""
        out = self.shared_mask(now).copy()
        ids = self.user_excluded(user)
        out[ids[(ids >= 0) & (ids < len(out))]] = False
        return out


UNKNOWN_FIELD = "no item has this attribute field"
"""The message of a rule on a field no item has (such a rule keeps nothing, or drops nothing:
a misspelt field, or one whose values are numbers or free text, which are not tokens)."""


def unknown_rule_fields(spec: FilterSpec, catalogue: ItemCatalogue) -> list[tuple[str, str]]:
    """`(rule, field)` of each include or exclude rule on a field no item in `catalogue` has,
    in the spec's order (see `ItemCatalogue.attribute_fields`)."""
    if not spec.include and not spec.exclude:
        return []
    known = catalogue.attribute_fields()
    return [
        (rule, name)
        for rule, rules in (("include", spec.include), ("exclude", spec.exclude))
        for name in rules
        if name not in known
    ]


def compile_filter(
    spec: FilterSpec, catalogue: ItemCatalogue, event_types: EventTypes | None = None
) -> CompiledFilter:
    """Resolve names and tokens once; raises ValueError for unknown event types or item ids."""
    base = ~catalogue.blocked.astype(bool)
    for name, values in spec.include.items():
        base &= catalogue.items_with_any(catalogue.token_ids([f"{name}={v}" for v in values]))
    for name, values in spec.exclude.items():
        base &= ~catalogue.items_with_any(catalogue.token_ids([f"{name}={v}" for v in values]))
    if spec.exclude_items:
        if catalogue.items is None:
            raise ValueError("exclude_items needs a catalogue with an item vocabulary")
        # Unknown ids cannot be recommended anyway; ignoring them keeps stale pages harmless.
        _drop(base, catalogue.items.encode(spec.exclude_items, grow=False))
    types = event_types or EventTypes()
    codes = np.asarray([types.code(t) for t in sorted(spec.reconsumable_event_types)], np.int16)
    base.setflags(write=False)
    return CompiledFilter(spec, catalogue, catalogue.version, base, codes)


class FilterCache:
    """Compiled filters by spec, least recently used first out; recompiles stale entries."""

    def __init__(
        self, catalogue: ItemCatalogue, event_types: EventTypes | None = None, size: int = 64
    ) -> None:
        self.catalogue = catalogue
        self.event_types = event_types
        self.size = size
        self._entries: OrderedDict[str, CompiledFilter] = OrderedDict()

    def get(self, spec: FilterSpec) -> CompiledFilter:
        key = spec.model_dump_json()
        hit = self._entries.get(key)
        if hit is None or not hit.is_current:
            hit = compile_filter(spec, self.catalogue, self.event_types)
            self._entries[key] = hit
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return hit
