"""Compute cost (the compute-cost issue): parts that run separately and merge into one
`bench/results/cost.json`, each part recording its own command, commit and date.

    python bench/cost.py --parts bf16,ddp                  # Beauty, seeds 0,1,2
    python bench/cost.py --parts ddp --seeds 0 --max-epochs 1 --data shared/datasets/ml-100k

- bf16: one model (`model.members = 1`, otherwise the default config) trained to early stopping
  in `train.precision = fp32` and in `bf16` (autocast on this CPU), seed by seed.
  `bf16_epoch_speedup` = fp32 over bf16 mean training seconds per epoch (the training pass,
  validation excluded: validation stays fp32); `bf16_ndcg_ratio` = mean validation NDCG@10
  of bf16 over fp32.
- ddp: the same model trained in one process (every core) and in two data-parallel processes
  (`attune.training.launch`, gloo, the cores shared), the same global batch.
  `ddp2_epoch_speedup` = one process's mean training seconds per epoch over two processes';
  `ddp2_ndcg_ratio` = mean validation NDCG@10 of two processes over one (goal: >= 0.97).

Rows also give test NDCG@10 (the final evaluation, as bench/quality.py scores: the served
path), epochs and the best epoch. `--max-epochs` caps every run (a smoke run: the ratios of
capped runs compare unfinished models; such runs write cost_smoke.{json,md}, never cost.*).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attune  # noqa: F401  (sets the OpenMP wait policy before torch loads)
from _report import SHARED, merge_part, write_parts
from attune.data import Dataset, load
from attune.data.holdout import holdout
from attune.log import configure
from attune.training import TrainConfig, TrainResult, apply_overrides, train
from attune.training.checkpoint import load_members
from attune.training.launch import train_processes
from attune.training.recommend import served_scorer
from quality import evaluate_test

NAME = "cost"
SMOKE_NAME = "cost_smoke"
HEADERS = {
    part: ["run", "seed", "valid NDCG@10", "test NDCG@10", "epochs", "best epoch", "s / epoch"]
    for part in ("bf16", "ddp")
}


@dataclass(frozen=True)
class Run:
    """One trained model: its validation and test NDCG@10 and training seconds per epoch."""

    label: str
    seed: int
    valid_ndcg: float
    test_ndcg: float
    epochs: int
    best_epoch: int
    epoch_seconds: float

    def row(self) -> list[Any]:
        return [
            self.label,
            self.seed,
            self.valid_ndcg,
            self.test_ndcg,
            self.epochs,
            self.best_epoch,
            self.epoch_seconds,
        ]


def base_config(seed: int, max_epochs: int | None, overrides: Sequence[str]) -> TrainConfig:
    """The default config with one model, this seed, no progress bars or TensorBoard."""
    config = apply_overrides(
        TrainConfig(),
        [
            "model.members=1",
            f"train.seed={seed}",
            "train.progress=false",
            "train.tensorboard=false",
            "train.device=cpu",
            *overrides,
        ],
    )
    if max_epochs is not None:
        config = apply_overrides(config, [f"train.max_epochs={max_epochs}"])
    return config


def run(dataset: Dataset, config: TrainConfig, label: str, nproc: int, out: Path) -> Run:
    """Train (in `nproc` processes), then open the test targets once from the checkpoint."""
    protocol = holdout(dataset)
    start = time.perf_counter()
    if nproc > 1:
        result: TrainResult = train_processes(protocol.selection, config, out, nproc)
    else:
        result = train(protocol.selection, config, out)
    print(f"{label} seed {config.train.seed}: {time.perf_counter() - start:.0f} s", flush=True)
    scorer = served_scorer(load_members(out), dataset, window="all")
    test, _ = evaluate_test(scorer, dataset, protocol, config.train.seed)
    return Run(
        label,
        config.train.seed,
        result.best_metrics["valid_ndcg@10"],
        test["ndcg@10"],
        result.epochs,
        result.best_epoch,
        float(np.mean([h["train_seconds"] for h in result.history])),
    )


def compare(
    dataset: Dataset,
    seeds: Sequence[int],
    max_epochs: int | None,
    variants: dict[str, tuple[list[str], int]],
) -> list[Run]:
    """Every variant (label: overrides, processes) for every seed, each in a fresh folder."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="attune-cost-") as tmp:
        for seed in seeds:
            for label, (overrides, nproc) in variants.items():
                config = base_config(seed, max_epochs, overrides)
                runs.append(run(dataset, config, label, nproc, Path(tmp) / f"{label}-{seed}"))
    return runs


def ratios(runs: list[Run], base: str, other: str, prefix: str) -> dict[str, float]:
    """`<prefix>_epoch_speedup` (base seconds over other's) and `<prefix>_ndcg_ratio` (other's
    mean validation NDCG@10 over base's)."""

    def mean(label: str, field: str) -> float:
        return float(np.mean([getattr(r, field) for r in runs if r.label == label]))

    return {
        f"{prefix}_epoch_speedup": mean(base, "epoch_seconds") / mean(other, "epoch_seconds"),
        f"{prefix}_ndcg_ratio": mean(other, "valid_ndcg") / mean(base, "valid_ndcg"),
        f"{prefix}_test_ndcg_ratio": mean(other, "test_ndcg") / mean(base, "test_ndcg"),
    }


def part_bf16(dataset: Dataset, seeds: Sequence[int], max_epochs: int | None) -> tuple:
    variants = {"fp32": (["train.precision=fp32"], 1), "bf16": (["train.precision=bf16"], 1)}
    runs = compare(dataset, seeds, max_epochs, variants)
    return ratios(runs, "fp32", "bf16", "bf16"), [r.row() for r in runs]


def part_ddp(dataset: Dataset, seeds: Sequence[int], max_epochs: int | None) -> tuple:
    variants = {"1 process": ([], 1), "2 processes": ([], 2)}
    runs = compare(dataset, seeds, max_epochs, variants)
    return ratios(runs, "1 process", "2 processes", "ddp2"), [r.row() for r in runs]


PARTS = {"bf16": part_bf16, "ddp": part_ddp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="bf16,ddp", help="comma-separated: bf16, ddp")
    parser.add_argument("--data", type=Path, default=SHARED / "beauty", help="dataset folder")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="cap every run (smoke; writes cost_smoke)"
    )
    args = parser.parse_args()
    configure("warning")
    dataset = load(args.data)
    seeds = [int(s) for s in args.seeds.split(",")]
    smoke = args.max_epochs is not None or args.data.name != "beauty"
    name = SMOKE_NAME if smoke else NAME
    for part in args.parts.split(","):
        if part not in PARTS:
            raise SystemExit(f"unknown part {part!r}: {', '.join(PARTS)}")
        metrics, rows = PARTS[part](dataset, seeds, args.max_epochs)
        write_parts(name, merge_part(name, part, metrics, rows), HEADERS)


if __name__ == "__main__":
    main()
