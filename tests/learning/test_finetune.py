"""Fine-tuning rounds: new events and new items are learned, a worse candidate is rejected."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from structlog.testing import capture_logs

from attune.data.events import Interaction, ItemUpdate
from attune.engine.engine import load_model
from attune.engine.interest import EncoderInterestModel, EnsembleInterestModel
from attune.learning import finetune as finetune_module
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import DataWindow, ModelRegistry, RegistryError
from attune.model.ensemble import MEMBER_SEED_STRIDE
from attune.stores import open_storage
from attune.training.checkpoint import ensemble_metrics
from tests.engine.conftest import PER_CLUSTER, T0, make_engine_files


def _log_new_events(db: Path, n_users: int = 60, new_item: str | None = None) -> int:
    """Sessions of new users inside one genre (as the training data has them), some of them on
    `new_item`; returns how many events were logged."""
    rng = np.random.default_rng(7)
    events = []
    for u in range(n_users):
        c = u % 4
        for t, j in enumerate(rng.choice(PER_CLUSTER, size=6, replace=False)):
            item = new_item if new_item and c == 0 and t == 3 else f"c{c}-{j}"
            events.append(
                Interaction(user_id=f"new{u}", item_id=item, event_type="view",
                            timestamp=T0 + 10**6 + u * 100 + t)
            )  # fmt: skip
    with open_storage(db) as store:
        if new_item:
            store.catalogue.upsert_items(
                [ItemUpdate(item_id=new_item, attributes={"genre": ["g0"]})]
            )
        store.events.append_events(events)
    return len(events)


def test_round_learns_new_events_and_new_items(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    db, reg = registry_files
    n = _log_new_events(db, new_item="c0-fresh")
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=50, epochs=2, tolerance=0.05))
    assert outcome.status == "published", outcome.reason
    assert outcome.new_events == n and outcome.holdout_events == round(n * 0.1)
    assert outcome.trained_events == n - outcome.holdout_events
    assert reg.current() == outcome.version == 2
    info = reg.info(2)
    assert info.parent == 1 and info.status == "published"
    assert info.data_window.first_seq == reg.info(1).data_window.last_seq + 1
    assert info.data_window.events == outcome.trained_events
    assert {"hr@10", "ndcg@10", "parent_hr@10", "parent_ndcg@10"} <= set(info.metrics)
    # The new item has its own learned row now, not only its attribute vector.
    v1, v2 = reg.load(1), reg.load(2)
    assert "c0-fresh" not in v1.items and "c0-fresh" in v2.items
    with open_storage(db) as store:
        data = store.to_dataset(events=False)
        fresh = np.array([store.items.index("c0-fresh")])
    old_model, new_model = EncoderInterestModel(v1, 1), EncoderInterestModel(v2, 2)
    for m in (old_model, new_model):
        m.bind_items(data.items)
    assert old_model.model_index(fresh)[0] == 0 and new_model.model_index(fresh)[0] > 0
    learned = new_model.item_vectors(fresh, data.item_attributes)
    from_attributes = new_model.cold_item_vectors(fresh, data.item_attributes)
    assert not np.allclose(learned, from_attributes)
    # The next round starts after this one's window: only the held-out events are new to it.
    with open_storage(db) as store:
        again = fine_tune(store, reg, FineTuneConfig(min_events=outcome.holdout_events + 1))
    assert again.status == "skipped" and again.new_events == outcome.holdout_events


def test_worse_candidate_is_not_promoted(registry_files: tuple[Path, ModelRegistry]) -> None:
    db, reg = registry_files
    _log_new_events(db)
    # A learning rate this large wrecks the weights: the check must catch it.
    wreck = FineTuneConfig(min_events=50, lr=5.0, epochs=3, grad_clip=0.0)
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, wreck)
    assert outcome.status == "rejected", outcome.reason
    assert "worse" in outcome.reason
    assert outcome.metrics["ndcg@10"] < outcome.metrics["parent_ndcg@10"]
    assert reg.current() == 1
    assert reg.info(outcome.version or 0).status == "rejected"
    assert [v.version for v in reg.versions()] == [1, 2]


def test_after_a_rejected_round_the_same_events_are_not_trained_again(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    """`attune learn --watch` stored an identical rejected candidate every interval: a round
    from the same parent waits for `min_events` events newer than the last candidate saw,
    and logs why it trained nothing."""
    db, reg = registry_files
    _log_new_events(db)
    wreck = FineTuneConfig(min_events=50, lr=5.0, epochs=3, grad_clip=0.0)
    with open_storage(db) as store:
        first = fine_tune(store, reg, wreck)
        last = store.events.last_seq()
        with capture_logs() as logs:
            again = fine_tune(store, reg, wreck)
    assert first.status == "rejected" and first.version == 2, first.reason
    assert again.status == "skipped" and again.version is None
    assert reg.info(2).data_window.read_to_seq == last  # its held-out events included
    assert again.reason == (
        "0 new events since v2 (rejected, the last candidate from v1), fewer than min_events=50"
    )
    assert [v.version for v in reg.versions()] == [1, 2]
    skipped = [e for e in logs if e["event"] == "fine-tune round skipped"]
    assert len(skipped) == 1 and skipped[0]["reason"] == again.reason
    assert skipped[0]["new_events"] == first.new_events and skipped[0]["parent"] == 1
    _log_new_events(db)  # enough newer events: the next round trains (on the whole backlog)
    with open_storage(db) as store:
        third = fine_tune(store, reg, FineTuneConfig(min_events=50, tolerance=1.0))
    assert third.status == "published" and third.version == 3
    assert third.new_events == 2 * first.new_events


def test_too_few_events_skip(registry_files: tuple[Path, ModelRegistry]) -> None:
    db, reg = registry_files
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=10))
    assert outcome.status == "skipped" and outcome.version is None
    assert "fewer than min_events" in outcome.reason
    assert reg.versions()[-1].version == 1


def test_published_version_loads_in_the_engine(registry_files: tuple[Path, ModelRegistry]) -> None:
    db, reg = registry_files
    _log_new_events(db)
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=50, tolerance=1.0))
    assert outcome.version is not None
    t0 = time.perf_counter()
    model = load_model(reg.path(outcome.version), outcome.version)
    assert model.version == outcome.version and time.perf_counter() - t0 < 10


def test_a_backlog_is_trained_newest_first_up_to_the_cap(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    db, reg = registry_files
    n = _log_new_events(db)
    config = FineTuneConfig(min_events=50, max_train_events=100, tolerance=1.0)
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, config)
        last = store.events.last_seq()
    assert outcome.trained_events == 100 and outcome.new_events == n
    window = reg.info(outcome.version or 0).data_window
    assert window.last_seq == last - outcome.holdout_events
    assert window.first_seq == window.last_seq - 99 and window.events == 100


def test_a_model_with_user_attributes_is_tuned_with_them(
    engine_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The user-token embeddings only learn when the round feeds each user's tokens."""
    import torch

    from attune.learning.registry import DataWindow
    from attune.training.config import FitConfig, ModelConfig, TrainConfig
    from attune.training.trainer import train
    from tests.engine.conftest import clustered_dataset

    db, _ = engine_files
    cfg = TrainConfig(
        model=ModelConfig(
            dim=16, max_len=16, dropout=0.1, attn_dropout=0.1, user_attributes=True, members=1
        ),
        train=FitConfig(max_epochs=2, batch_size=64, device="cpu", progress=False,
                        tensorboard=False),
    )  # fmt: skip
    train(clustered_dataset(), cfg, tmp_path / "model")
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq())
    reg = ModelRegistry.create(tmp_path / "reg", tmp_path / "model", window)
    with open_storage(db) as store:  # the new users get attributes, then events
        from attune.data.events import UserUpdate

        store.profiles.upsert_users(
            [UserUpdate(user_id=f"new{u}", attributes={"segment": f"s{u % 4}"}) for u in range(60)]
        )
    _log_new_events(db)
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=50, tolerance=1.0))
    assert outcome.status == "published"
    before = reg.load(1).encoder.user_token_emb
    after = reg.load(2).encoder.user_token_emb
    assert before is not None and after is not None
    assert not torch.equal(before.weight, after.weight)


def test_an_ensemble_is_tuned_member_by_member_and_stays_an_ensemble(
    trained_pair: tuple[object, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, pair = trained_pair
    db, model = make_engine_files(data, pair, tmp_path)  # type: ignore[arg-type]
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq(), events=store.counts().events)
    reg = ModelRegistry.create(tmp_path / "registry", model, window)
    assert reg.info(1).metrics == ensemble_metrics(pair) and reg.info(1).metrics
    _log_new_events(db, new_item="c0-fresh")
    seeds: list[int] = []
    original = finetune_module._train

    def spy(*args: object, **kwargs: object) -> int:
        seeds.append(kwargs["seed"])  # type: ignore[arg-type]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(finetune_module, "_train", spy)
    with open_storage(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=50, epochs=2, tolerance=1.0))
    assert outcome.status == "published" and outcome.version == 2 == reg.current()
    assert seeds == [1, 1 + MEMBER_SEED_STRIDE]  # each member tuned with its own seed
    parents, tuned = reg.load_members(1), reg.load_members(2)
    assert len(tuned) == 2 and all("c0-fresh" in m.items for m in tuned)
    for before, after in zip(parents, tuned, strict=True):
        a, b = before.encoder.state_dict(), after.encoder.state_dict()
        assert not torch.equal(a["pos_emb.weight"], b["pos_emb.weight"])  # each member trained
    with pytest.raises(RegistryError, match="ensemble"):
        reg.load(2)
    served = load_model(reg.path(2), 2)
    assert isinstance(served, EnsembleInterestModel) and served.version == 2
    assert reg.rollback() == 1 and reg.current() == 1  # back to the parent pair
