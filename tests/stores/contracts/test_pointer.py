"""The `ModelPointer` contract (`Storage.model_pointer` of a prepared registry directory)."""

from __future__ import annotations

from pathlib import Path

from attune.ports import ModelPointer, Storage
from tests.stores.conftest import Backend


def test_no_current_version_at_start(pointer: ModelPointer) -> None:
    assert pointer.current() is None and pointer.history() == []


def test_set_current_appends_once(pointer: ModelPointer) -> None:
    pointer.set_current(1)
    pointer.set_current(2)
    assert pointer.current() == 2 and pointer.history() == [1, 2]
    pointer.set_current(2)  # already current: nothing changes
    assert pointer.history() == [1, 2]
    pointer.set_current(1)  # a version current before is appended again
    assert pointer.current() == 1 and pointer.history() == [1, 2, 1]


def test_set_history_replaces_it_and_its_last_entry_is_current(pointer: ModelPointer) -> None:
    for version in (1, 2, 3):
        pointer.set_current(version)
    pointer.set_history([1, 2])  # a rollback
    assert pointer.current() == 2 and pointer.history() == [1, 2]
    pointer.set_current(4)
    assert pointer.history() == [1, 2, 4]
    pointer.set_history([])
    assert pointer.current() is None and pointer.history() == []


def test_history_is_a_copy(pointer: ModelPointer) -> None:
    pointer.set_current(1)
    pointer.history().append(9)
    assert pointer.history() == [1]


def test_one_pointer_per_registry(
    backend: Backend, storage: Storage, pointer: ModelPointer, tmp_path: Path
) -> None:
    other_root = tmp_path / "other-registry"
    backend.prepare_registry(other_root)
    other = storage.model_pointer(other_root)
    pointer.set_current(3)
    assert other.current() is None
    assert storage.model_pointer(tmp_path / "registry").current() == 3


def test_experiment_is_stored_replaced_and_forgotten(pointer: ModelPointer) -> None:
    from datetime import UTC, datetime

    from attune.schemas.experiments import Experiment

    assert pointer.experiment() is None
    started = datetime(2024, 5, 1, tzinfo=UTC)
    first = Experiment(id="abc123", control=1, challenger=2, share=0.25, started=started)
    pointer.set_experiment(first)
    assert pointer.experiment() == first
    stopped = first.model_copy(update={"stopped": datetime(2024, 5, 2, tzinfo=UTC)})
    pointer.set_experiment(stopped)
    assert pointer.experiment() == stopped and not stopped.running
    pointer.set_current(3)  # the version history and the experiment are kept apart
    assert pointer.experiment() == stopped and pointer.history() == [3]
    pointer.set_experiment(None)
    assert pointer.experiment() is None and pointer.current() == 3
