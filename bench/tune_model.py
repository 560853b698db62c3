"""Train the interest model on benchmark datasets and report validation and test metrics.

Usage (from the repo root; datasets are read in place from ../shared/datasets):

    .venv/bin/python bench/tune_model.py beauty ml-100k --set train.lr=1e-3 --seeds 0 1

Each run trains with early stopping on validation NDCG@10, then evaluates the best epoch on
the leave-one-out test targets (full ranking, seen items excluded) with `attune.evaluation`.
One JSON line per run goes to stdout and, with --out, is appended to a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import attune  # noqa: F401  (sets the OpenMP wait policy before torch loads)
from attune.data import load
from attune.data.splits import leave_one_out
from attune.evaluation import evaluate, leave_one_out_task
from attune.log import configure
from attune.model import EncoderScorer
from attune.training import TrainConfig, apply_overrides, load_config
from attune.training.trainer import Trainer

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def run(name: str, config: TrainConfig, data_dir: Path = DATASETS) -> dict[str, object]:
    dataset = load(data_dir / name)
    split = leave_one_out(dataset.interactions)
    start = time.perf_counter()
    trainer = Trainer(dataset, config, None)  # withholds the test events itself
    result = trainer.fit()
    task = leave_one_out_task(split, dataset.n_users, "test")

    def test_metrics(prefix: str) -> dict[str, float]:
        test = evaluate(
            EncoderScorer(trainer.model),
            task.users,
            task.histories,
            task.targets,
            dataset.n_items,
            n_bootstrap=10,
        )
        return {
            f"{prefix}test_hr@10": round(test.hr, 4),
            f"{prefix}test_ndcg@10": round(test.ndcg, 4),
        }

    tested = test_metrics("")
    if result.averaged:  # also report the best single epoch, for comparison
        trainer.model.load_state_dict(trainer.best_state)
        tested |= test_metrics("best_epoch_")
    return {
        "dataset": name,
        "seed": config.train.seed,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "seconds_to_best": round(result.seconds_to_best, 1),
        "seconds": round(result.seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        **{k: round(v, 4) for k, v in result.best_metrics.items()},
        **tested,
        "averaged": result.averaged,
        "max_len": trainer.encoder_config.max_len,
        "curve": [
            [i + 1, round(h["seconds"], 1), round(h["valid_ndcg@10"], 4)]
            for i, h in enumerate(result.history)
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", help="folder names under ../shared/datasets")
    parser.add_argument("--config", type=Path, help="TOML config (defaults otherwise)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--out", type=Path, help="append JSON lines here")
    parser.add_argument("--data-dir", type=Path, default=DATASETS, help="dataset folders")
    parser.add_argument("--verbose", action="store_true", help="log every epoch")
    args = parser.parse_args(argv)
    configure(level="info" if args.verbose else "warning")
    base = load_config(args.config) if args.config else TrainConfig()
    base = apply_overrides(base, ["train.progress=false", *args.overrides])
    for name in args.datasets:
        for seed in args.seeds:
            config = apply_overrides(base, [f"train.seed={seed}"])
            row = {**run(name, config, args.data_dir), "overrides": args.overrides}
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
