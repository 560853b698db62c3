"""The `ImpressionLog` contract, with the feedback report worked out by hand and, for random
data, held to the in-memory backend's plain-Python join (the reference)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune.data.events import EventTypes, Interaction, ItemUpdate, UserUpdate
from attune.ports import ArmCounts, FeedbackCounts, Impression, ImpressionLog, Storage
from attune.stores import open_storage
from tests.stores.conftest import Backend
from tests.stores.contracts.records import T0, event

DAY = 86_400.0


@dataclass(frozen=True)
class Rules:
    """An `OutcomeRules` in the default event types' codes."""

    clicks: frozenset[int]
    conversions: frozenset[int]
    ratings: frozenset[int]
    rating_threshold: float
    window_s: float


def rules(window_s: float = 7 * DAY) -> Rules:
    code = EventTypes().code
    return Rules(
        clicks=frozenset({code("click"), code("view"), code("rating")}),
        conversions=frozenset({code("purchase")}),
        ratings=frozenset({code("rating")}),
        rating_threshold=EventTypes().rating_threshold,
        window_s=window_s,
    )


def shown(
    rid: str, user: int | None, items: tuple[int, ...], *, ts: float = T0, version: int = 1
) -> Impression:
    return Impression(rid, user, ts, version, "model", items, tuple(f"r{i}" for i in items))


def test_write_and_get(impressions: ImpressionLog) -> None:
    first = Impression("R1", 0, T0, 3, "model", (4, 1, 2), ("similar", "popular", "similar"))
    impressions.write([first, shown("R2", None, (1,))], {})
    assert impressions.get("R1") == first
    assert impressions.get("R2") == shown("R2", None, (1,))
    assert impressions.get("nope") is None
    impressions.write([shown("R1", 5, (9,), version=9)], {})  # a stored list is kept
    assert impressions.get("R1") == first


def test_write_adopts_lists_whose_user_was_unknown(impressions: ImpressionLog) -> None:
    impressions.write([shown("R1", None, (1,)), shown("R2", 0, (1,))], {})
    impressions.write([shown("R3", None, (2,))], {"R1": 7, "R2": 8, "R3": 9, "nope": 1})
    assert impressions.get("R1") == shown("R1", 7, (1,))
    assert impressions.get("R2") == shown("R2", 0, (1,))  # a known user is never replaced
    assert impressions.get("R3") == shown("R3", 9, (2,))  # adopted in the same write
    assert impressions.get("nope") is None


def test_count_prune_and_erase(impressions: ImpressionLog) -> None:
    impressions.write(
        [
            shown("old", 0, (1,), ts=T0 - 10),
            shown("a", 0, (1,), ts=T0),
            shown("b", 1, (1,), ts=T0 + 10),
            shown("anon", None, (1,), ts=T0 + 20),
        ],
        {},
    )
    assert impressions.count() == 4 and impressions.count(0) == 2 and impressions.count(1) == 1
    assert impressions.count(5) == 0
    assert impressions.delete_before(T0) == 1
    assert impressions.get("old") is None and impressions.get("a") is not None
    assert impressions.erase_user(0) == 1 and impressions.erase_user(0) == 0
    assert impressions.count() == 2 and impressions.get("b") is not None
    assert impressions.delete_before(T0 + 100) == 2 and impressions.count() == 0


def test_events_before_a_position(storage: Storage, impressions: ImpressionLog) -> None:
    logged = storage.events.append_events(
        [
            event("a", "x", "click", rid="R1"),
            event("a", "y", rid="R2"),
            event("b", "x", "rating", value=4.0, rid="R1"),
            event("a", "x", "purchase", rid="R1"),
        ]
    )
    before = impressions.events_before("R1", logged[3].seq)
    assert [e.seq for e in before] == [logged[0].seq, logged[2].seq]
    assert all(e.recommendation_id == "R1" for e in before)
    assert [e[1:5] for e in before] == [logged[0][1:5], logged[2][1:5]]
    assert before[1].value == 4.0
    assert impressions.events_before("R1", logged[0].seq) == []
    assert impressions.events_before("nope", 100) == []


def test_definition_round_trip(impressions: ImpressionLog) -> None:
    assert impressions.definition() is None
    definition = {"click_types": ["click", "view"], "attribution_window_s": 60.0}
    impressions.save_definition(definition)
    assert impressions.definition() == definition
    impressions.save_definition({"click_types": ["click"]})
    assert impressions.definition() == {"click_types": ["click"]}


def test_the_definition_is_stored_as_json(impressions: ImpressionLog) -> None:
    """What is read back is a copy of what was saved, in JSON's types."""
    definition = {"click_types": ("click", "view"), "window": {"s": 60}}
    impressions.save_definition(definition)
    definition["window"]["s"] = 1  # type: ignore[index]
    assert impressions.definition() == {"click_types": ["click", "view"], "window": {"s": 60}}
    read = impressions.definition()
    assert read is not None
    read["click_types"].append("purchase")
    assert impressions.definition() == {"click_types": ["click", "view"], "window": {"s": 60}}


def test_report_of_an_empty_store(impressions: ImpressionLog) -> None:
    assert impressions.report(rules()) == FeedbackCounts()


def test_report_of_a_hand_checked_scenario(storage: Storage, impressions: ImpressionLog) -> None:
    """Four lists and the events that follow them; `expected` is worked out by hand: an event
    joins a shown item of the list it names, by the list's user (any user while the list has
    none), inside the window; each list item counts once however many events it drew."""
    storage.profiles.upsert_users([UserUpdate(user_id=u) for u in ("a", "b", "c", "d")])
    storage.catalogue.upsert_items([ItemUpdate(item_id=f"i{j}") for j in range(7)])
    a, b = 0, 1
    impressions.write(
        [
            Impression("R1", a, T0, 1, "model", (0, 1, 2), ("similar", "similar", "popular")),
            Impression("R2", b, T0, 2, "model", (3, 4), ("exploration", "similar")),
            Impression("R3", None, T0, 1, "popularity", (5, 0), ("popular", "popular")),
            Impression("R4", a, T0, 1, "model", (6,), ("similar",)),
        ],
        {},
    )
    at = T0 + 10
    storage.events.append_events(
        [
            event("a", "i0", "click", ts=at, rid="R1"),  # click (1, similar)
            event("a", "i0", "click", ts=at, rid="R1"),  # the same item again: counted once
            event("a", "i1", "view", ts=at, rid="R1"),  # a view counts as a click (1, similar)
            event("a", "i0", "purchase", ts=at, rid="R1"),  # conversion (1, similar)
            event("a", "i3", "click", ts=at, rid="R1"),  # not in the list: unattributed
            event("b", "i1", "click", ts=at, rid="R1"),  # another user's list: unattributed
            event("a", "i0", "click", ts=at, rid="nope"),  # unknown list: unattributed
            event("a", "i2", "skip", ts=at, rid="R1"),  # joined, neither click nor conversion
            event("a", "i6", "rating", ts=at, value=2.0, rid="R4"),  # a low rating: no click
            event("a", "i6", "rating", ts=at, value=3.5, rid="R4"),  # at the threshold (1, sim.)
            event("a", "i2", "rating", ts=at, value=5.0, rid="R1"),  # a high one (1, popular)
            event("b", "i4", "purchase", ts=at, rid="R2"),  # conversion only (2, similar)
            event("b", "i3", "click", ts=T0 + 8 * DAY, rid="R2"),  # too late: unattributed
            event("c", "i5", "click", ts=at, rid="R3"),  # no user yet: joins (1, popular)
            event("a", "i1", "click", ts=at),  # names no list, shown to a in R1: untagged
            event("b", "i1", "click", ts=at),  # names no list, b was not shown i1: not counted
            event("a", "i6", "click", ts=T0 - 1),  # before R4 showed it: not counted
            event("c", "i0", "purchase", ts=at, rid="R3"),  # conversion (1, popular)
        ]
    )
    impressions.write([], {"R3": storage.users.index("c")})
    storage.events.append_events([event("d", "i0", "click", ts=at, rid="R3")])  # c's now
    expected = FeedbackCounts(
        lists={1: 3, 2: 1},
        shown={
            (1, "similar"): 3,
            (1, "popular"): 3,
            (2, "exploration"): 1,
            (2, "similar"): 1,
        },
        reacted={(1, "similar"): (3, 1), (1, "popular"): (2, 1), (2, "similar"): (0, 1)},
        unattributed=5,
        untagged=1,
    )
    assert impressions.report(rules()) == expected
    # A shorter window drops every event but the late one's list stays shown.
    assert impressions.report(rules(window_s=5.0)) == FeedbackCounts(
        lists=expected.lists, shown=expected.shown, reacted={}, unattributed=16
    )


def test_report_counts_experiment_arms(storage: Storage, impressions: ImpressionLog) -> None:
    """Lists of an experiment count per (experiment, arm): lists, shown items, and each list
    item clicked or converted once at most; lists of no experiment stay out of `arms`."""
    storage.events.append_events([event(f"u{k}", f"i{k}") for k in range(4)])
    impressions.write(
        [
            Impression("C1", 0, T0, 1, "model", (0, 1), ("similar",) * 2, "e1", "control"),
            Impression("C2", 1, T0, 1, "popularity", (2,), ("popular",), "e1", "control"),
            Impression("X1", 2, T0, 2, "model", (0, 3, 1), ("similar",) * 3, "e1", "challenger"),
            Impression("N1", 3, T0, 1, "model", (0,), ("similar",)),
        ],
        {},
    )
    at = T0 + 10
    storage.events.append_events(
        [
            event("u0", "i0", "click", ts=at, rid="C1"),
            event("u0", "i0", "click", ts=at, rid="C1"),  # again: once
            event("u2", "i3", "click", ts=at, rid="X1"),
            event("u2", "i3", "purchase", ts=at, rid="X1"),
            event("u2", "i1", "view", ts=at, rid="X1"),
            event("u3", "i0", "click", ts=at, rid="N1"),  # no experiment
        ]
    )
    arms = impressions.report(rules()).arms
    assert arms == {
        ("e1", "control"): ArmCounts(lists=2, items=3, clicks=1, conversions=0),
        ("e1", "challenger"): ArmCounts(lists=1, items=3, clicks=2, conversions=1),
    }
    assert impressions.get("X1") == Impression(
        "X1", 2, T0, 2, "model", (0, 3, 1), ("similar",) * 3, "e1", "challenger"
    )


# -- the report on random data, against the reference -----------------------------------------

USERS, ITEMS, LISTS = 2, 4, 3
KINDS = ("view", "click", "purchase", "rating", "skip")
WINDOW = 30.0
OFFSETS = (0.0, 1.0, WINDOW - 0.5, WINDOW, WINDOW + 0.5)
"""Seconds from serving to the event: inside, at and past the end of the window."""
RATINGS = (1.0, 3.5, 5.0)
"""Below, at and above the default rating threshold."""
ARMS = (("", ""), ("e1", "control"), ("e1", "challenger"), ("e2", "challenger"))
"""(experiment, arm) of a list: none, or an arm of one of two experiments."""


@st.composite
def impressions(draw: st.DrawFn) -> list[Impression]:
    out = []
    for n in range(draw(st.integers(0, LISTS))):
        # A served list never holds an item twice (the SQL join counts per list and item).
        items = draw(st.lists(st.integers(0, ITEMS - 1), min_size=1, max_size=4, unique=True))
        out.append(
            Impression(
                f"R{n}",
                draw(st.none() | st.integers(0, USERS - 1)),
                T0 + draw(st.integers(0, 50)) / 2,
                draw(st.integers(1, 2)),
                "model",
                tuple(items),
                tuple(draw(st.sampled_from(("similar", "popular"))) for _ in items),
                *draw(st.sampled_from(ARMS)),
            )
        )
    return out


@st.composite
def reactions(draw: st.DrawFn, lists: list[Impression]) -> list[Interaction]:
    """Events that mostly name a served list, its items, its user and times about the end
    of the window, so that the join's every rule decides something; some name no list, an
    unknown one, another item or another user."""
    out = []
    for _ in range(draw(st.integers(0, 30))):
        pick = draw(st.integers(-1, len(lists)))
        target = lists[pick] if 0 <= pick < len(lists) else None
        items = st.integers(0, ITEMS - 1)
        users = st.integers(0, USERS - 1)
        if target is not None:
            items = st.sampled_from(target.items) | items
            users = st.just(target.user or 0) | users
        kind = draw(st.sampled_from(KINDS))
        out.append(
            event(
                f"u{draw(users)}",
                f"i{draw(items)}",
                kind,
                ts=(target.ts if target else T0) + draw(st.sampled_from(OFFSETS)),
                value=draw(st.none() | st.sampled_from(RATINGS)) if kind == "rating" else None,
                rid=None if pick < 0 else f"R{pick}",
            )
        )
    return out


def _fill(
    storage: Storage,
    lists: list[Impression],
    logged: list[Interaction],
    adopted: dict[str, int],
) -> None:
    # The ids first, so that user uK and item iK have index K in every backend.
    storage.events.append_events([event(f"u{k}", f"i{k}") for k in range(max(USERS, ITEMS))])
    storage.impressions.write(lists, {})
    if logged:
        storage.events.append_events(logged)
    storage.impressions.write([], adopted)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    adopted=st.dictionaries(st.sampled_from(["R0", "R1", "R9"]), st.integers(0, USERS - 1)),
)
def test_report_equals_the_reference_join(
    backend: Backend, data: st.DataObject, adopted: dict[str, int]
) -> None:
    if backend.name == "memory":
        pytest.skip("the in-memory backend is the reference")
    lists = data.draw(impressions())
    logged = data.draw(reactions(lists))
    storage, reference = backend.open(), open_storage("memory://")
    _fill(storage, lists, logged, adopted)
    _fill(reference, lists, logged, adopted)
    outcome = rules(WINDOW)
    assert storage.impressions.report(outcome) == reference.impressions.report(outcome)
