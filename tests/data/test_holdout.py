"""The selection view withholds the test targets; every read of them is counted."""

import numpy as np
import pytest

from attune.data.dataset import Dataset, Interactions
from attune.data.holdout import holdout, selection_view
from attune.data.splits import leave_one_out
from attune.data.vocab import Vocabulary


def _dataset() -> Dataset:
    # user 0: items 0 1 2 3; user 1: items 1 2 4 (item 4 appears only in a test event);
    # user 2: item 3 alone (its one event is its test target).
    rows = [(0, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 3), (0, 3), (1, 4)]
    users, items = (np.array(c, np.int64) for c in zip(*rows, strict=True))
    return Dataset(
        name="tiny",
        interactions=Interactions.sorted_by_time(users, items, np.arange(len(rows), dtype=float)),
        users=Vocabulary(["a", "b", "c"]),
        items=Vocabulary(["i0", "i1", "i2", "i3", "i4"]),
    )


def _rows(x: Interactions) -> set[tuple[int, int, float]]:
    return set(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))


def test_selection_view_is_leave_one_out_without_the_test_events() -> None:
    dataset = _dataset()
    protocol = holdout(dataset)
    full = leave_one_out(dataset.interactions)
    view = protocol.selection
    assert _rows(view.train) == _rows(full.train) and _rows(view.valid) == _rows(full.valid)
    assert _rows(view.dataset.interactions) == _rows(full.train) | _rows(full.valid)
    assert not _rows(view.dataset.interactions) & _rows(full.test)
    # Same catalogue and users: the item seen only in a test event keeps its index.
    assert view.dataset.items == dataset.items and view.dataset.n_items == 5
    assert view.dataset.n_users == 3
    assert 4 not in view.dataset.interactions.items.tolist()
    assert protocol.test.reads == 0


def test_re_splitting_the_selection_view_never_reaches_a_test_event() -> None:
    dataset = _dataset()
    protocol = holdout(dataset)
    test_rows = _rows(leave_one_out(dataset.interactions).test)
    again = leave_one_out(protocol.selection.dataset.interactions)
    for part in (again.train, again.valid, again.test):
        assert not _rows(part) & test_rows
    assert selection_view(protocol.selection) is protocol.selection
    assert _rows(selection_view(dataset).dataset.interactions).isdisjoint(test_rows)
    assert protocol.selection_reads_test == 0


def test_every_read_of_the_test_targets_is_counted() -> None:
    dataset = _dataset()
    protocol = holdout(dataset)
    assert _rows(protocol.test.open()) == _rows(leave_one_out(dataset.interactions).test)
    protocol.test.open()
    assert protocol.test.reads == 2 and protocol.selection_reads_test == 2
    split = protocol.final_split()
    assert _rows(split.test) == _rows(leave_one_out(dataset.interactions).test)
    # The final evaluation's own read is not a selection read.
    assert protocol.test.reads == 3 and protocol.selection_reads_test == 2
    with pytest.raises(RuntimeError, match="already opened"):
        protocol.final_split()


def test_an_honest_run_opens_the_test_targets_once_at_the_end() -> None:
    protocol = holdout(_dataset())
    protocol.final_split()
    assert protocol.selection_reads_test == 0 and protocol.test.reads == 1
