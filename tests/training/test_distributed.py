"""Data-parallel training (`attune.training.distributed`, `attune.training.launch`): two gloo
processes and one process with the same global batch train the same model."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attune import __version__
from attune.cli.main import app
from attune.training import TrainConfig, apply_overrides, train
from attune.training.distributed import Ranks
from attune.training.launch import train_processes
from tests.training.synthetic import markov_dataset

# No dropout: the two runs draw different masks (one process vs one per rank), and dropout is
# the only randomness of a full-softmax step. Attributes, user attributes and event types on,
# so every embedding the encoder has is trained through DDP.
EXACT = [
    "model.dim=16",
    "model.n_layers=1",
    "model.n_heads=2",
    "model.dropout=0",
    "model.attn_dropout=0",
    "model.members=1",
    "model.user_attributes=true",
    "train.batch_size=16",
    "train.max_epochs=2",
    "train.warmup_steps=0",
    "train.lr=1e-2",
    "train.device=cpu",
    "train.threads=1",
    "train.progress=false",
    "train.tensorboard=false",
]


def test_a_rank_takes_every_nth_window_and_an_empty_share_counts_for_nothing() -> None:
    batch = np.arange(5)
    assert [Ranks(r, 2).shard(batch)[0].tolist() for r in range(2)] == [[0, 2, 4], [1, 3]]
    mine, counts = Ranks(1, 2).shard(np.array([7]))
    assert mine.tolist() == [7] and not counts
    assert Ranks(0, 2).shard(np.array([7]))[1]


def _comparable(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The parameters but the attention key biases. A key bias adds the same amount to every
    score of a query, which softmax ignores: its true gradient is 0, and Adam scales the
    rounding noise left in its place up to full-size steps, so no two summation orders agree
    on it (~1e-4 apart where every other parameter is ~1e-7 apart)."""
    out = dict(state)
    for name, value in state.items():
        if name.endswith("attn.qkv.bias"):
            q, _, v = value.chunk(3)
            out[name] = torch.cat([q, v])
    return out


def test_two_processes_train_the_parameters_one_process_does(tmp_path: Path) -> None:
    # 49 users -> 49 windows: batches of 16, 16, 16 and 1, so in the last one rank 1 has no
    # window of its own and takes part at weight 0.
    dataset = markov_dataset(n_users=49, n_items=30, attributes=True, event_types=True)
    config: TrainConfig = apply_overrides(TrainConfig(), EXACT)
    one = train(dataset, config, tmp_path / "one")
    two = train_processes(dataset, config, tmp_path / "two", 2)

    a = torch.load(tmp_path / "one" / "trainer_state.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert a["step"] == b["step"] == 8  # 2 epochs of 4 global batches
    assert a["model"].keys() == b["model"].keys()
    pa, pb = _comparable(a["model"]), _comparable(b["model"])
    flat_a = torch.cat([v.flatten().double() for v in pa.values()])
    flat_b = torch.cat([v.flatten().double() for v in pb.values()])
    # Gradients not all-reduced (each rank stepping on its half) leave ~0.2 here.
    assert float((flat_a - flat_b).norm() / flat_a.norm()) < 1e-5
    for name, value in pa.items():
        torch.testing.assert_close(pb[name], value, rtol=1e-5, atol=1e-6, msg=name)
    # The loss is the mean over every rank's targets; validation is rank 0's, broadcast.
    np.testing.assert_allclose(
        [h["loss"] for h in two.history], [h["loss"] for h in one.history], rtol=1e-5
    )
    assert two.best_metrics == one.best_metrics
    assert (tmp_path / "two" / "model.pt").is_file()


def test_torchrun_can_start_the_command_line_as_a_module() -> None:
    # `torchrun ... -m attune.cli train ...` runs `python -m attune.cli` in every process.
    done = subprocess.run(
        [sys.executable, "-m", "attune.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"attune {__version__}"


def test_nproc_is_refused_under_torchrun(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--nproc", "2"]
    )
    assert result.exit_code == 2 and "--nproc" in result.output
    assert "torchrun" in result.output
