"""Ensembles (`model.members` > 1): independent members, summed scores, the offline CLI.

Serving them: tests/engine/test_ensemble.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data import load
from attune.data.splits import leave_one_out
from attune.evaluation import evaluate, leave_one_out_task
from attune.learning.registry import ModelRegistry
from attune.model.encoder import pad_histories
from attune.model.ensemble import MEMBER_SEED_STRIDE
from attune.model.scorer import EncoderScorer, SummedScorer
from attune.training import CheckpointError, apply_overrides, load_checkpoint, recommend_offline
from attune.training.checkpoint import MEMBERS_FILE, load_members, member_dir
from attune.training.data import UserSequences
from attune.training.members import member_config
from attune.training.recommend import served_scorer
from attune.training.trainer import train
from tests.bench_peers.planted_inter import write_planted
from tests.training.synthetic import markov_dataset
from tests.training.test_trainer import _config


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, object]:
    dataset = markov_dataset(n_users=80, event_types=True)
    out = tmp_path_factory.mktemp("pair")
    config = _config("model.members=2", "train.max_epochs=3", "train.tensorboard=false")
    return dataset, out, train(dataset, config, out)


def test_member_zero_is_the_single_model_and_member_one_is_seeded_apart(
    pair: tuple[object, Path, object], tmp_path: Path
) -> None:
    dataset, out, result = pair
    single = tmp_path / "single"
    train(dataset, _config("train.max_epochs=3", "train.tensorboard=false"), single)  # type: ignore[arg-type]
    a = load_checkpoint(single).encoder.state_dict()
    m0 = load_checkpoint(member_dir(out, 0)).encoder.state_dict()
    m1 = load_checkpoint(member_dir(out, 1)).encoder.state_dict()
    assert all(torch.equal(a[k], m0[k]) for k in a)
    assert not all(torch.equal(a[k], m1[k]) for k in a)
    config = _config("model.members=2")
    assert member_config(config, 1).train.seed == config.train.seed + MEMBER_SEED_STRIDE
    assert member_config(config, 1).model.members == 1
    assert len(result.members) == 2  # type: ignore[attr-defined]


def test_the_ensemble_validates_on_the_sum_of_its_members_scores(
    pair: tuple[object, Path, object],
) -> None:
    dataset, out, result = pair
    members = load_members(out)
    assert len(members) == 2 and members[0].encoder_config.n_event_types > 1
    split = leave_one_out(dataset.interactions)  # type: ignore[attr-defined]
    task = leave_one_out_task(split, dataset.n_users, "valid")  # type: ignore[attr-defined]
    # Reference, user by user, with the event types each member reads (as their own
    # validation does): the summed scores, seen items out, ties against the target.
    train_types = UserSequences.from_interactions(split.train, dataset.n_users).event_types  # type: ignore[attr-defined]
    hits, gains = [], []
    for user, history, target in zip(task.users, task.histories, task.targets, strict=True):
        total = torch.zeros(dataset.n_items)  # type: ignore[attr-defined]
        for m in members:
            enc = m.encoder
            items = pad_histories([history], enc.config.max_len)
            codes = pad_histories([train_types[user]], enc.config.max_len, offset=0)
            with torch.no_grad():
                total += enc.score(enc.user_vectors(items, codes), enc.item_vectors())[0]
        others = np.setdiff1d(np.arange(len(total)), np.append(history, target))
        rank = 1 + int((total[others] >= total[target]).sum())
        hits.append(rank <= 10)
        gains.append(1 / np.log2(rank + 1) if rank <= 10 else 0.0)
    assert result.best_metrics["valid_hr@10"] == pytest.approx(np.mean(hits))  # type: ignore[attr-defined]
    assert result.best_metrics["valid_ndcg@10"] == pytest.approx(np.mean(gains))  # type: ignore[attr-defined]
    saved = json.loads((out / MEMBERS_FILE).read_text())
    assert saved["members"] == ["member-0", "member-1"]
    assert saved["metrics"] == result.best_metrics  # type: ignore[attr-defined]
    summed = SummedScorer([EncoderScorer(m.encoder) for m in members])
    a, b = (EncoderScorer(m.encoder).score(task.users[:4], task.histories[:4]) for m in members)
    np.testing.assert_allclose(summed.score(task.users[:4], task.histories[:4]), a + b)


def test_offline_top_k_ranks_by_the_members_mean_cosine(pair: tuple[object, Path, object]) -> None:
    """The pair scores as the engine serves it: the cosine of the joined vectors, which is the
    members' cosines averaged (their temperatures are equal), so it ranks as their summed
    training scores do. Each V_u is rounded to float16 as a user state stores it (the joined
    one and each member's alone round differently), hence the tolerance."""
    _, out, _ = pair
    members = load_members(out)
    history = [3, 4, 5]
    n_items = members[0].encoder_config.n_items
    items, scores = recommend_offline(members, history, k=5)
    mean = np.zeros(n_items)
    for m in members:
        idx, val = recommend_offline(m, history, k=n_items, exclude_seen=False)
        mean[idx] += val / len(members)
    mean[history] = -np.inf
    np.testing.assert_allclose(scores, mean[items], atol=1e-3)
    assert np.all(mean[items] >= np.sort(mean)[-5] - 2e-3)


def test_single_model_loading_refuses_an_ensemble_and_a_bad_members_file(
    pair: tuple[object, Path, object], tmp_path: Path
) -> None:
    _, out, _ = pair
    with pytest.raises(CheckpointError, match="ensemble"):
        load_checkpoint(out)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MEMBERS_FILE).write_text('{"format": 1, "members": ["../elsewhere"]}')
    with pytest.raises(CheckpointError, match="corrupt"):
        load_members(broken)
    (broken / MEMBERS_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_members(broken)


def test_a_single_model_trained_over_an_ensemble_is_not_shadowed_by_it(
    pair: tuple[object, Path, object], tmp_path: Path
) -> None:
    dataset, out, _ = pair
    reused = tmp_path / "reused"
    shutil.copytree(out, reused)
    train(dataset, _config("train.max_epochs=1", "train.tensorboard=false"), reused)  # type: ignore[arg-type]
    assert len(load_members(reused)) == 1
    load_checkpoint(reused)


def test_resume_finishes_each_member(tmp_path: Path) -> None:
    dataset = markov_dataset(n_users=60)
    config = _config("model.members=2", "train.patience=50", "train.tensorboard=false")
    straight = train(dataset, apply_overrides(config, ["train.max_epochs=2"]), tmp_path / "a")
    train(dataset, apply_overrides(config, ["train.max_epochs=1"]), tmp_path / "b")
    resumed = train(
        dataset, apply_overrides(config, ["train.max_epochs=2"]), tmp_path / "b", resume=True
    )
    assert [m.epochs for m in resumed.members] == [2, 2]
    assert resumed.best_metrics == straight.best_metrics


def test_cli_trains_evaluates_and_recommends_with_a_pair(tmp_path: Path) -> None:
    data = tmp_path / "planted"
    sequences = write_planted(data)
    out = tmp_path / "model"
    runner = CliRunner()
    args = ["train", "--data", str(data), "--out", str(out), "--set", "model.members=2"]
    for extra in ("model.dim=16", "train.max_epochs=2", "train.progress=false"):
        args += ["--set", extra]
    trained = runner.invoke(cli, [*args, "--set", "train.tensorboard=false"])
    assert trained.exit_code == 0, trained.output
    assert "ensemble of 2 (valid_hr@10" in trained.output
    assert (out / MEMBERS_FILE).is_file()
    evaluated = runner.invoke(cli, ["evaluate", "--model", str(out), "--data", str(data)])
    assert evaluated.exit_code == 0, evaluated.output
    ds = load(data)
    task = leave_one_out_task(leave_one_out(ds.interactions), ds.n_users, "test")
    served = served_scorer(load_members(out), ds)  # the pair as the server scores it
    hr = evaluate(served, task.users, task.histories, task.targets, ds.n_items).metrics["hr@10"]
    assert f"hr@10                  {hr:.4f}" in evaluated.output
    user = next(iter(sequences))
    listed = runner.invoke(
        cli, ["recommend", "--model", str(out), "--user", user, "--data", str(data), "-k", "3"]
    )
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("\n") >= 4
    registry = tmp_path / "registry"
    made = runner.invoke(cli, ["models", "init", "--registry", str(registry), "--from", str(out)])
    assert made.exit_code == 0, made.output
    assert len(ModelRegistry(registry).load_members(1)) == 2
    assert not list(registry.rglob("trainer_state.pt"))  # resume state is not served
