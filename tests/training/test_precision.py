"""Mixed-precision training (`train.precision`, `attune.training.precision`)."""

import math
from pathlib import Path

import pytest
import torch

from attune.training import ConfigError, TrainConfig, Trainer, apply_overrides, train
from attune.training.precision import MixedPrecision
from tests.training.synthetic import markov_dataset

FAST = [
    "model.dim=32",
    "model.members=1",
    "train.lr=5e-3",
    "train.warmup_steps=10",
    "train.batch_size=64",
    "train.max_epochs=4",
    "train.patience=4",
    "train.progress=false",
    "train.tensorboard=false",
    "train.device=cpu",
]


def test_a_bf16_run_trains_and_keeps_float32_weights(tmp_path: Path) -> None:
    config = apply_overrides(TrainConfig(), [*FAST, "train.precision=bf16"])
    result = train(markov_dataset(), config, tmp_path)
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(v) for h in result.history for v in h.values())
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best_metrics["valid_ndcg@10"] > 0.5, result.best_metrics
    weights = torch.load(tmp_path / "model.pt", weights_only=True)
    assert {v.dtype for v in weights.values()} == {torch.float32}


def test_bf16_autocast_runs_the_matrix_products_in_bfloat16() -> None:
    config = apply_overrides(TrainConfig(), [*FAST, "train.precision=bf16"])
    trainer = Trainer(markov_dataset(n_users=40), config, None)
    seen: list[torch.dtype] = []
    qkv = trainer.model.blocks[0].attn.qkv
    qkv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with trainer.loop.precision.autocast():
        trainer.model(torch.tensor([[1, 2, 3]]))
    trainer.model(torch.tensor([[1, 2, 3]]))  # validation and serving: outside autocast
    assert seen == [torch.bfloat16, torch.float32]
    assert qkv.weight.dtype == torch.float32


def test_fp16_is_refused_without_cuda_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^train\.precision: fp16 needs train\.device = cuda"):
        apply_overrides(TrainConfig(), ["train.precision=fp16", "train.device=cpu"])
    with pytest.raises(ConfigError, match=r"^train\.precision: fp16 needs a CUDA device"):
        MixedPrecision("fp16", torch.device("cpu"))
