"""What the training progress bars say: the member, the epoch, the validation score."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import attune.training.loop as loop
from attune.training.progress import progress_label
from attune.training.trainer import train
from tests.training.synthetic import markov_dataset
from tests.training.test_trainer import _config


def test_the_label_names_member_epoch_and_scores() -> None:
    assert (
        progress_label(7, (0, 2), 0.061, 0.062, 5)
        == "member 1/2 · epoch 7 · valid NDCG@10 0.0610 (best 0.0620 @5)"
    )
    assert progress_label(1, None, None, -math.inf, 0) == "epoch 1"
    assert progress_label(2, (1, 2), math.nan, -math.inf, 0) == "member 2/2 · epoch 2"


def test_an_ensembles_bars_say_which_member_and_the_last_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    descs: list[str] = []
    real = loop.tqdm

    def recording_tqdm(items: Any, desc: str = "", **_: Any) -> Any:
        descs.append(desc)
        return real(items, desc=desc, disable=True)

    monkeypatch.setattr(loop, "tqdm", recording_tqdm)
    dataset = markov_dataset(n_users=40)
    config = _config("model.members=2", "train.max_epochs=2", "train.tensorboard=false")
    train(dataset, config, tmp_path / "pair")
    assert descs[0] == "member 1/2 · epoch 1"
    assert descs[1].startswith("member 1/2 · epoch 2 · valid NDCG@10 ")
    assert descs[1].endswith("@1)")
    assert descs[2] == "member 2/2 · epoch 1"
    assert len(descs) == 4
