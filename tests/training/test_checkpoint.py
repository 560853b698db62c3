import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attune.model import pad_histories
from attune.training import (
    CheckpointError,
    Trainer,
    apply_overrides,
    load_checkpoint,
    recommend_offline,
    save_checkpoint,
)
from tests.training.synthetic import markov_dataset
from tests.training.test_trainer import _config


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trainer]:
    dataset = markov_dataset(n_users=60, attributes=True, event_types=True)
    config = apply_overrides(
        _config("model.item_attributes=true", "model.user_attributes=true"),
        ["train.max_epochs=2", "model.learn_temperature=true"],
    )
    trainer = Trainer(dataset, config)
    trainer.fit()
    out = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(
        out,
        trainer.model,
        config,
        items=dataset.items,
        users=dataset.users,
        item_attributes=dataset.item_attributes,
        user_attributes=dataset.user_attributes,
        event_types=dataset.event_types,
        metrics={"valid_ndcg@10": 0.5},
    )
    return out, trainer


def _scores(encoder: torch.nn.Module, trainer: Trainer) -> torch.Tensor:
    histories = [trainer.sequences.items[u] for u in range(5)]
    codes = pad_histories([trainer.sequences.event_types[u] for u in range(5)], 50, offset=0)
    bags = [torch.from_numpy(trainer.dataset.user_attributes.row(u)) for u in range(5)]
    with torch.no_grad():
        users = encoder.user_vectors(pad_histories(histories, 50), codes, bags)
        return encoder.score(users, encoder.item_vectors())


def test_round_trip_gives_identical_scores(saved: tuple[Path, Trainer]) -> None:
    out, trainer = saved
    loaded = load_checkpoint(out)
    trainer.model.eval()
    assert torch.equal(_scores(trainer.model, trainer), _scores(loaded.encoder, trainer))
    assert loaded.encoder_config == trainer.encoder_config
    assert loaded.train_config == trainer.config
    assert loaded.items == trainer.dataset.items and loaded.users == trainer.dataset.users
    assert np.array_equal(loaded.item_attributes.indices, trainer.dataset.item_attributes.indices)
    assert loaded.item_attributes.tokens == trainer.dataset.item_attributes.tokens
    assert loaded.event_types == trainer.dataset.event_types
    assert loaded.metrics == {"valid_ndcg@10": 0.5}
    assert not loaded.encoder.training


def test_recommend_offline_returns_unseen_items_best_first(saved: tuple[Path, Trainer]) -> None:
    out, _ = saved
    loaded = load_checkpoint(out)
    items, scores = recommend_offline(loaded, [3, 7, 3], k=5)
    assert len(items) == 5 and not {3, 7} & set(items.tolist())
    assert np.all(np.diff(scores) <= 0)
    everything, _ = recommend_offline(loaded, [3, 7], k=1000)
    assert len(everything) == loaded.encoder_config.n_items - 2
    with pytest.raises(ValueError, match="empty"):
        recommend_offline(loaded, [], k=5)
    with pytest.raises(ValueError, match="out of range"):
        recommend_offline(loaded, [10_000], k=5)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_missing_checkpoint_or_file_is_named(saved: tuple[Path, Trainer], tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_checkpoint(tmp_path / "nope")
    broken = _copy(saved[0], tmp_path / "broken")
    (broken / "model.pt").unlink()
    with pytest.raises(CheckpointError, match=r"missing model\.pt"):
        load_checkpoint(broken)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("model.pt", b"not a torch file", "model.pt is corrupt"),
        ("config.json", b"{not json", "config.json is corrupt"),
        ("items.json", b'["a", "a"]', "corrupt"),
        ("item_attributes.npz", b"garbage", "corrupt"),
    ],
)
def test_corrupt_file_is_reported(
    saved: tuple[Path, Trainer], tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    broken = _copy(saved[0], tmp_path / "broken")
    (broken / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(broken)


def test_incompatible_checkpoint_is_reported(saved: tuple[Path, Trainer], tmp_path: Path) -> None:
    newer = _copy(saved[0], tmp_path / "newer")
    meta = json.loads((newer / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(newer)

    resized = _copy(saved[0], tmp_path / "resized")
    meta["encoder"]["dim"] = 16
    (resized / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(resized)

    unknown = _copy(saved[0], tmp_path / "unknown")
    meta["encoder"]["dim"] = 32
    meta["encoder"]["n_experts"] = 4
    (unknown / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"encoder\.n_experts"):
        load_checkpoint(unknown)


def test_a_checkpoint_from_before_later_keys_loads_with_their_defaults(
    saved: tuple[Path, Trainer], tmp_path: Path
) -> None:
    """Keys added to [model] and [train] after a checkpoint was written take their defaults."""
    old = _copy(saved[0], tmp_path / "old")
    meta = json.loads((old / "config.json").read_text())
    for key in ("members", "max_len_cap"):
        del meta["train"]["model"][key]
    for key in ("lr_decay", "lr_patience", "average_last"):
        del meta["train"]["train"][key]
    (old / "config.json").write_text(json.dumps(meta))
    loaded = load_checkpoint(old)
    assert loaded.train_config.model.members == 2
    assert loaded.train_config.train.lr_decay == 1.0
    assert loaded.train_config.train.lr == load_checkpoint(saved[0]).train_config.train.lr
