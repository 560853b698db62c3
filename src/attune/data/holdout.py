"""A leave-one-out split whose test targets are withheld from model selection, structurally.

Everything that chooses something (training with early stopping, ensemble validation, a
tuner, a default's re-derivation) receives `Holdout.selection`: the training events, the
validation targets, and a `Dataset` whose interactions are those two alone. No test event is
in it, so no re-split of it can reach one (`leave_one_out(selection.dataset.interactions)`
holds out the validation targets as its "test"). The test targets live in `Holdout.test`, a
sealed holder that counts every `open()`; the final evaluation opens it once, after the
config is fixed, through `Holdout.final_split()`.

    protocol = holdout(dataset)
    result = train(protocol.selection, config, out_dir)   # or a tuner's trials
    assert protocol.selection_reads_test == 0              # nothing chose by the test
    split = protocol.final_split()                         # the one read of the test targets
    task = leave_one_out_task(split, dataset.n_users, "test")

Item and user indices are the dataset's: an item seen only in a test event keeps its index
(the model's catalogue is the same), it just has no event in the selection view.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from attune.data.dataset import Dataset, Interactions
from attune.data.splits import LeaveOneOut, _rank_from_end


@dataclass(frozen=True)
class SelectionView:
    """What model selection may read: per user, the events but the last."""

    dataset: Dataset
    """The dataset without its test events (same vocabularies, attributes and titles)."""
    train: Interactions
    """Per user, the events but the last two."""
    valid: Interactions
    """Per user, the second last event: the validation target."""


class WithheldTargets:
    """The test events, sealed: `open()` hands them out and counts the read."""

    def __init__(self, events: Interactions) -> None:
        self._events = events
        self.reads = 0
        """How many times the test events were opened."""

    def open(self) -> Interactions:
        """The test events (one per user with any event); counted in `reads`."""
        self.reads += 1
        return self._events

    def __repr__(self) -> str:
        return f"WithheldTargets(reads={self.reads})"


class Holdout:
    """A leave-one-out split as a protocol: selection sees `selection`, the final
    evaluation opens `test` once through `final_split()`."""

    def __init__(self, selection: SelectionView, test: WithheldTargets) -> None:
        self.selection = selection
        self.test = test
        self._reads_before_final: int | None = None

    @property
    def selection_reads_test(self) -> int:
        """Reads of the test targets before the final evaluation (0 for an honest run)."""
        if self._reads_before_final is not None:
            return self._reads_before_final
        return self.test.reads

    def final_split(self) -> LeaveOneOut:
        """The full split for the final evaluation: opens the test targets (once per
        protocol; a second final evaluation would be a selection by test)."""
        if self._reads_before_final is not None:
            raise RuntimeError("the final evaluation already opened the test targets")
        self._reads_before_final = self.test.reads
        return LeaveOneOut(self.selection.train, self.selection.valid, self.test.open())


def holdout(dataset: Dataset) -> Holdout:
    """Leave-one-out on `dataset`: per user the last event is withheld as the test target,
    the second last is the validation target, the rest trains (as `leave_one_out`)."""
    events = dataset.interactions
    rank = _rank_from_end(events.users)
    selection = SelectionView(
        dataset=dataclasses.replace(dataset, interactions=events.take(rank >= 1)),
        train=events.take(rank >= 2),
        valid=events.take(rank == 1),
    )
    return Holdout(selection, WithheldTargets(events.take(rank == 0)))


def selection_view(data: Dataset | SelectionView) -> SelectionView:
    """`data` itself if it is a selection view, else a dataset's: its test events withheld."""
    return data if isinstance(data, SelectionView) else holdout(data).selection


__all__ = ["Holdout", "SelectionView", "WithheldTargets", "holdout", "selection_view"]
