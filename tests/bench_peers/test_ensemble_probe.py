"""bench/ensemble_probe.py: summed scores, the servability claim, the keys it reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import ensemble_probe
from attune.data import load
from attune.data.splits import leave_one_out
from attune.evaluation import evaluate, leave_one_out_task
from attune.model import EncoderConfig, EncoderScorer, InterestEncoder
from attune.model.scorer import SummedScorer
from attune.training import TrainConfig, apply_overrides, load_checkpoint, train
from attune.training.checkpoint import is_ensemble, member_dir

from .planted_inter import write_planted


def _encoder(seed: int) -> InterestEncoder:
    torch.manual_seed(seed)
    return InterestEncoder(EncoderConfig(n_items=12, dim=8, temperature=0.1)).eval()


def test_summed_cosine_scores_equal_one_cosine_of_concatenated_unit_vectors() -> None:
    a, b = _encoder(0), _encoder(1)
    items = torch.tensor([[1, 4, 2, 0], [3, 3, 7, 9]])
    with torch.no_grad():
        summed = sum(e.score(e.user_vectors(items), e.item_vectors()) for e in (a, b))
        users = torch.cat([F.normalize(e.user_vectors(items), dim=-1) for e in (a, b)], dim=1)
        vecs = torch.cat([F.normalize(e.item_vectors(), dim=-1) for e in (a, b)], dim=1)
    # One temperature: the sum is the concatenated dot product over T, so it ranks the same.
    torch.testing.assert_close(summed, users @ vecs.T / 0.1)


def test_probe_reports_single_pair_and_all_from_the_checkpoints(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    write_planted(data_root / "planted")
    runs = tmp_path / "runs"
    config = apply_overrides(
        TrainConfig(),
        ["model.dim=16", "train.max_epochs=2", "train.progress=false", "train.tensorboard=false"],
    )
    ds = load(data_root / "planted")
    # Seeds 0 and 1 as one model each, seed 2 as the default pair: the probe takes its member 0.
    for seed in (0, 1, 2):
        members = 1 if seed < 2 else TrainConfig().model.members
        seeded = apply_overrides(config, [f"train.seed={seed}", f"model.members={members}"])
        train(ds, seeded, runs / "planted" / f"seed{seed}")
    assert is_ensemble(runs / "planted" / "seed2")
    metrics, rows = ensemble_probe.probe("planted", runs, data_root)

    task = leave_one_out_task(leave_one_out(ds.interactions), ds.n_users, "test")
    singles = [runs / "planted" / "seed0", runs / "planted" / "seed1"]
    singles.append(member_dir(runs / "planted" / "seed2", 0))
    scorers = [EncoderScorer(load_checkpoint(d).encoder) for d in singles]
    alone = [
        evaluate(s, task.users, task.histories, task.targets, ds.n_items).metrics["hr@10"]
        for s in scorers
    ]
    summed = SummedScorer(scorers)
    together = evaluate(summed, task.users, task.histories, task.targets, ds.n_items)
    assert metrics["planted/checkpoints"] == 3
    assert metrics["planted/single/hr@10"] == np.mean(alone)
    assert metrics["planted/all/hr@10"] == together.metrics["hr@10"]
    assert 0 <= metrics["planted/pairs/ndcg@10"] <= 1
    assert [r[1] for r in rows] == ["single", "pairs", "all"]
    first = summed.score(task.users[:3], task.histories[:3])
    parts = [s.score(task.users[:3], task.histories[:3]) for s in scorers]
    np.testing.assert_allclose(first, np.sum(parts, axis=0), rtol=1e-6, atol=1e-5)
