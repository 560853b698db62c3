"""Erasure that reaches the model: versions record the users they learned from, the training
loader never yields an erased user's window, and `attune models forget` makes current a
version that never saw an erased user (fine-tuned from a clean version, retrained when none is
clean, or the clean version itself when training fails)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.learning import forgetting
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.forgetting import forget_erased, versions_that_saw
from attune.learning.registry import DataWindow, ModelRegistry
from attune.learning.trained_users import ERASED_PREFIX, checkpoint_users
from attune.log import configure
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from attune.stores import open_storage
from attune.training.data import Batch, TrainingWindows
from tests.conftest import engine_model_config
from tests.learning.test_finetune import _log_new_events

TUNE = FineTuneConfig(min_events=50, epochs=1, tolerance=1.0)


@pytest.fixture
def batch_users(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every user whose window the training loader put in a batch (fine-tuning and training
    alike build their batches with `TrainingWindows.batch`)."""
    seen: list[int] = []
    original = TrainingWindows.batch

    def recording(self: TrainingWindows, index: np.ndarray, device: torch.device) -> Batch:
        batch = original(self, index, device)
        seen.extend(int(u) for u in batch.users)
        return batch

    monkeypatch.setattr(TrainingWindows, "batch", recording)
    yield seen


@pytest.fixture
def tuned(engine_files: tuple[Path, Path], tmp_path: Path) -> tuple[Path, ModelRegistry]:
    """v1 (the trained model, its users recorded as `models init --db` does) and v2, fine-tuned
    from it on 60 new users' events."""
    db, model = engine_files
    root = tmp_path / "registry"
    result = CliRunner().invoke(
        cli, ["models", "init", "--registry", str(root), "--from", str(model), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    configure()  # the CLI logged to the runner's stream, closed now
    registry = ModelRegistry(root)
    _log_new_events(db)
    with open_storage(db) as store:
        assert fine_tune(store, registry, TUNE).version == 2
    assert registry.current() == 2
    return db, registry


def _index(db: Path, user: str) -> int:
    with open_storage(db) as store:
        return store.users.get(user)


def _erase(db: Path, *users: str) -> list[int]:
    out = []
    with open_storage(db) as store:
        for user in users:
            out.append(store.users.get(user))
            assert store.erase_user(user)["events"] > 0
    return out


def test_versions_record_their_users_and_inherit_them(
    tuned: tuple[Path, ModelRegistry],
) -> None:
    db, registry = tuned
    v1, v2 = registry.users(1), registry.users(2)
    assert v1 is not None and v2 is not None
    old, new = _index(db, "u7"), _index(db, "new3")
    assert old in v1 and new not in v1
    assert set(v1) <= set(v2) and new in v2  # v2 inherits v1's users and adds its own
    assert registry.info(2).users == len(v2)
    assert versions_that_saw(registry, np.array([new])) == [2]
    assert versions_that_saw(registry, np.array([old])) == [1, 2]


def test_a_model_trained_after_erasure_never_saw_the_user(
    tuned: tuple[Path, ModelRegistry], batch_users: list[int]
) -> None:
    """Every user of v1 and v2 erased one by one is left out of every later training batch:
    the retrain `forget` makes (no version is clean) and the fine-tuning rounds after it."""
    db, registry = tuned
    erased = _erase(db, "u7", "new3")
    assert versions_that_saw(registry, np.array(erased)) == [1, 2]
    retrain = engine_model_config(epochs=1)
    with open_storage(db) as store:
        outcome = forget_erased(store, registry, TUNE, retrain)
    assert (outcome.how, outcome.version, outcome.clean) == ("retrained", 3, None)
    assert registry.current() == 3
    users = registry.users(3)
    assert users is not None and not np.isin(erased, users).any()
    assert len(batch_users) and not np.isin(erased, batch_users).any()

    batch_users.clear()
    _log_new_events(db, n_users=30)
    with open_storage(db) as store:
        assert fine_tune(store, registry, TUNE).status == "published"
    assert len(batch_users) and not np.isin(erased, batch_users).any()
    assert not np.isin(erased, registry.users(4)).any()
    assert versions_that_saw(registry, np.array(erased)) == [1, 2]


def test_the_loader_leaves_out_an_erased_users_events_that_escaped_deletion(
    tuned: tuple[Path, ModelRegistry], batch_users: list[int]
) -> None:
    """The guard itself: a tombstoned user whose events are still in the log (a copy that
    escaped the erasure) has new events in the round, yet no window of theirs is trained."""
    db, registry = tuned
    _log_new_events(db, n_users=60)  # the same users' ids: new events of new0..new59
    with open_storage(db) as store:
        idx = store.users.get("new5")
        store.users.rename(idx, f"{ERASED_PREFIX}{idx}")  # the id goes, the events stay
        outcome = fine_tune(store, registry, TUNE)
    assert outcome.status == "published" and outcome.trained_events > 0
    assert len(batch_users) and idx not in batch_users


def test_forget_fine_tunes_from_the_last_clean_version(
    tuned: tuple[Path, ModelRegistry], batch_users: list[int]
) -> None:
    """Only v2 saw the erased user: `attune models forget` fine-tunes v1 on the events since
    its window (the erased user's are gone) and promotes the result without its check;
    `attune models list` says which versions saw an erased user."""
    db, registry = tuned
    (erased,) = _erase(db, "new3")
    root, runner = str(registry.root), CliRunner()
    result = runner.invoke(cli, ["models", "forget", "--user", "new3", "--registry", root,
                                 "--store", str(db)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "v3 is current (fine-tuned)" in result.output
    info = registry.info(3)
    assert (registry.current(), info.parent, info.status) == (3, 1, "published")
    assert info.note.startswith("erasure: published without its check")
    users = registry.users(3)
    assert users is not None and erased not in users
    assert len(batch_users) and erased not in batch_users
    listed = runner.invoke(cli, ["models", "list", "--registry", root, "--store", str(db)])
    lines = {line.lstrip("* ").split()[0]: line for line in listed.output.splitlines()}
    assert "saw-erased=-" in lines["v1"] and "saw-erased=-" in lines["v3"]
    assert f"saw-erased=#{erased}" in lines["v2"]
    still = runner.invoke(cli, ["models", "forget", "--user", "u9", "--registry", root,
                                "--store", str(db)])  # fmt: skip
    assert still.exit_code == 2 and "still stored" in still.output


def test_forget_falls_back_to_the_clean_version_when_training_fails(
    tuned: tuple[Path, ModelRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, registry = tuned
    _erase(db, "new3")

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(forgetting, "fine_tune", fails)
    with open_storage(db) as store:
        outcome = forget_erased(store, registry, TUNE)
    assert (outcome.how, outcome.version, registry.current()) == ("fallback", 1, 1)
    assert "out of memory" in outcome.note and "v1" in outcome.note


def test_forget_refuses_a_retrain_that_learned_from_a_user_erased_while_it_ran(
    tuned: tuple[Path, ModelRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retrain reads the store, then a user in it is erased before it is registered: it is
    not promoted, and with no clean version to fall back on, nothing changes."""
    db, registry = tuned
    _erase(db, "u7")  # v1 and v2 both saw someone erased: forget must retrain
    real_train = forgetting.train

    def erasing_train(*args: object, **kwargs: object) -> object:
        with open_storage(db) as other:  # as a server would, in its own connection
            assert other.erase_user("u8")["events"] > 0  # in the data this retrain read
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forgetting, "train", erasing_train)
    with open_storage(db) as store, pytest.raises(forgetting.ForgetError, match="erased since"):
        forget_erased(store, registry, TUNE, engine_model_config(epochs=1))
    assert registry.current() == 2


def test_erasure_response_names_the_versions_that_saw_the_user(
    tuned: tuple[Path, ModelRegistry],
) -> None:
    db, registry = tuned
    app = create_app(ServerSettings(db=db, model=registry.root))
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as http:
        new = http.delete("/v1/users/new3")
        old = http.delete("/v1/users/u7")
    assert new.status_code == old.status_code == 200, new.text
    assert new.json()["model_versions"] == [2]
    assert old.json()["model_versions"] == [1, 2]


def test_a_registry_made_without_a_store_records_no_users(
    engine_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """A version whose users are unknown may have seen anyone; `checkpoint_users` finds a user
    of a model trained on the store even after their id was erased (the tombstone's index)."""
    db, model = engine_files
    registry = ModelRegistry.create(tmp_path / "r", model, DataWindow())
    assert registry.users(1) is None and versions_that_saw(registry, np.array([0])) == [1]
    (erased,) = _erase(db, "u11")
    with open_storage(db) as store:
        assert erased in checkpoint_users(store, model)


def test_an_erasure_promotion_skips_the_online_test_only_for_a_clean_version(
    tuned: tuple[Path, ModelRegistry],
) -> None:
    db, registry = tuned
    _erase(db, "new3")  # v2 learned from new3, v1 did not
    runner, root = CliRunner(), str(registry.root)

    def promote(version: int) -> tuple[int, str]:
        args = ["models", "promote", str(version), "--registry", root, "--reason", "erasure",
                "--require-online-win", "--store", str(db)]  # fmt: skip
        result = runner.invoke(cli, args)
        return result.exit_code, result.output

    code, output = promote(2)
    assert code == 2 and "learned from an erased user" in output
    assert promote(1) == (0, "version 1 is current\n")
    configure()
