import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.engine.state import UserState

events = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 8), st.booleans()), max_size=60)


@settings(max_examples=100)
@given(events)
def test_state_is_bounded_and_round_trips(evts: list[tuple[int, int, bool]]) -> None:
    state = UserState()
    for seq, (item, etype, positive) in enumerate(evts, start=1):
        state.apply(item, etype, float(seq), positive, seq, max_len=5, max_seen=12, hide=etype == 7)
    positives = [(i, t) for i, t, p in evts if p]
    assert state.items.tolist() == [i for i, _ in positives][-5:]
    assert state.types.tolist() == [t for _, t in positives][-5:]
    assert len(state.seen_items) <= 12
    assert state.hidden.tolist() == sorted({i for i, t, _ in evts if t == 7})
    assert (np.diff(state.seen_items) > 0).all()
    # The recent window is always inside the seen set.
    assert set(state.items.tolist()) <= set(state.seen_items.tolist())
    back = UserState.unpack(state.pack())
    for name in ("items", "types", "times", "seen_items", "seen_types", "negative", "hidden"):
        assert np.array_equal(getattr(back, name), getattr(state, name)), name
    assert back.last_seq == len(evts)


def test_negative_then_positive_and_idempotent_replay() -> None:
    state = UserState()
    kw = {"max_len": 10, "max_seen": 10}
    assert state.apply(4, 1, 1.0, False, 1, **kw)
    assert state.negative.tolist() == [4]
    assert not state.apply(4, 1, 1.0, False, 1, **kw)  # same seq again: no-op
    state.apply(4, 2, 2.0, True, 2, **kw)
    assert state.negative.tolist() == [] and state.items.tolist() == [4]
    assert state.seen_with_types(1 << 2).tolist() == [4]
    assert state.seen_with_types(1 << 3).tolist() == []


def test_vector_is_kept_as_float16_and_cleared_by_events() -> None:
    state = UserState()
    state.apply(1, 0, 1.0, True, 1, max_len=3, max_seen=3)
    state.vector = np.arange(8, dtype=np.float32) / 7
    state.model_version = 3
    back = UserState.unpack(state.pack())
    assert back.vector is not None and back.vector.dtype == np.float16
    assert np.allclose(back.vector, state.vector, atol=1e-3) and back.model_version == 3
    back.apply(2, 0, 2.0, True, 2, max_len=3, max_seen=3)
    assert back.vector is None


def test_reason_times_read_naturally() -> None:
    from attune.engine.explain import ago

    assert ago(30) == "just now"
    assert ago(150) == "2 minutes ago"
    assert ago(3 * 86400 + 5) == "3 days ago"
    assert ago(400 * 86400, timestamp=878_000_000.0) == "on 1997-10-28"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 2**32 - 1)),
        max_size=50,
        unique_by=lambda t: t[0],
    )
)
def test_seen_pairs_match_the_reference(rows: list[tuple[int, int]]) -> None:
    from attune.engine.engine import seen_pairs, seen_pairs_reference

    rows.sort()
    items = np.array([r[0] for r in rows], np.int32)
    masks = np.array([r[1] for r in rows], np.uint32)
    fast, slow = seen_pairs(items, masks), seen_pairs_reference(items, masks)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
