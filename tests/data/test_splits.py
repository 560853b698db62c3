import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.data.dataset import Interactions, user_sequences
from attune.data.splits import leave_one_out, temporal_split


@st.composite
def interactions(draw: st.DrawFn) -> Interactions:
    n = draw(st.integers(0, 80))
    users = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))  # many ties on purpose
    return Interactions.sorted_by_time(
        np.array(users, np.int64), np.array(items, np.int64), np.array(times, np.float64)
    )


def _rows(x: Interactions) -> list[tuple[int, int, float]]:
    return sorted(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))


@settings(max_examples=150)
@given(interactions())
def test_leave_one_out_sizes_and_order(x: Interactions) -> None:
    split = leave_one_out(x)
    n_users = len(np.unique(x.users))
    assert len(split.train) + len(split.valid) + len(split.test) == len(x)
    assert len(split.test) == n_users
    assert len(np.unique(split.test.users)) == len(split.test)
    assert len(np.unique(split.valid.users)) == len(split.valid)
    assert _rows(x) == _rows(
        Interactions.sorted_by_time(
            *(
                np.concatenate([getattr(p, c) for p in (split.train, split.valid, split.test)])
                for c in ("users", "items", "timestamps")
            )
        )
    )
    for u, t in zip(split.test.users, split.test.timestamps, strict=True):
        # No training or validation interaction of the user comes after their test target.
        assert (split.train.timestamps[split.train.users == u] <= t).all()
        assert (split.valid.timestamps[split.valid.users == u] <= t).all()
    for u, t in zip(split.valid.users, split.valid.timestamps, strict=True):
        assert (split.train.timestamps[split.train.users == u] <= t).all()


@settings(max_examples=100)
@given(interactions())
def test_leave_one_out_matches_sequences(x: Interactions) -> None:
    """The test target is the last item of the user's full sequence, valid the one before."""
    split = leave_one_out(x)
    n = int(x.users.max()) + 1 if len(x) else 0
    full = user_sequences(x, n)
    for u, item in zip(split.test.users, split.test.items, strict=True):
        assert full[u][-1] == item
    for u, item in zip(split.valid.users, split.valid.items, strict=True):
        assert full[u][-2] == item
    train = user_sequences(split.train, n)
    for u in range(n):
        assert list(train[u]) == list(full[u][:-2])


@settings(max_examples=100)
@given(interactions(), st.floats(0.05, 0.95))
def test_temporal_split_by_fraction(x: Interactions, fraction: float) -> None:
    split = temporal_split(x, fraction=fraction)
    assert len(split.train) + len(split.stream) == len(x)
    if len(split.train) and len(split.stream):
        assert split.train.timestamps.max() < split.stream.timestamps.min()
    assert (np.diff(split.stream.timestamps) >= 0).all()
    again = temporal_split(x, fraction=fraction)
    assert np.array_equal(again.stream.items, split.stream.items)


def test_temporal_split_by_cutoff_and_bad_arguments() -> None:
    x = Interactions.sorted_by_time(
        np.array([0, 1, 0]), np.array([5, 6, 7]), np.array([30.0, 10.0, 20.0])
    )
    split = temporal_split(x, cutoff=20.0)
    assert split.train.items.tolist() == [6]
    assert split.stream.items.tolist() == [7, 5]
    with pytest.raises(ValueError, match="exactly one"):
        temporal_split(x)
    with pytest.raises(ValueError, match="fraction"):
        temporal_split(x, fraction=1.5)
