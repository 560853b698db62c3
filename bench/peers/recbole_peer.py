"""RecBole 1.2.1 SASRec as a training-speed peer: validation NDCG@10 and wall time per epoch.

Runs INSIDE bench/peers/.venv-recbole (see setup_recbole.sh); the main venv drives it through
`recbole_runner.run_recbole`. The model and protocol are the ones Attune's side of
bench/training_speed.py uses: SASRec with 2 layers, 64 dims, 2 heads, at most 50 events, dropout
0.5, full-softmax cross-entropy, batch 256, Adam at lr 1e-3, seed 2020; leave-one-out by time
(RecBole's `LS: valid_and_test` with `TO` order), full ranking with seen items removed,
Recall@10 and NDCG@10, validation after every epoch. Early stopping is off, so exactly
`--epochs` epochs run; the test metrics are those of the best-validation epoch's weights.

Prints one JSON object on stdout (RecBole's own logging goes to stderr): per epoch the
cumulative wall seconds of training plus validation (data loading and model construction are
timed separately as `setup_seconds`, as on Attune's side) and the validation metrics; the best
epoch and its test metrics; and the held-out validation and test item of every user, so the
benchmark can check that both systems split the data the same way. The module imports
neither torch nor RecBole at the top, so its pure helpers can be unit tested from the main venv.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEED = 2020
EPOCHS = 15
THREADS = 2
TOP_K = 10
# RecBole rounds metrics to 4 places by default; the benchmark compares curves across systems.
METRIC_PLACES = 6
# RecBole always reads its bundled copy for a dataset of this name, whatever data_path says.
BUNDLED_DATASET = "ml-100k"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def sasrec_config(epochs: int, seed: int, checkpoint_dir: Path) -> dict[str, Any]:
    """RecBole's config dict for the benchmark's SASRec; RecBole fills in the rest."""
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    return {
        # Architecture (the same numbers as RecBole's SASRec.yaml, stated so they cannot drift).
        "n_layers": 2,
        "n_heads": 2,
        "hidden_size": 64,
        "inner_size": 256,
        "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5,
        "hidden_act": "gelu",
        "MAX_ITEM_LIST_LENGTH": 50,
        "loss_type": "CE",
        "train_neg_sample_args": None,  # CE scores every item: no negative sampling
        # Training.
        "train_batch_size": 256,
        "learner": "adam",
        "learning_rate": 1e-3,
        "epochs": epochs,
        "eval_step": 1,
        "stopping_step": epochs,  # never stop early: the curve covers every requested epoch
        "seed": seed,
        "reproducibility": True,
        # Evaluation.
        "eval_args": {
            "group_by": "user",
            "order": "TO",
            "split": {"LS": "valid_and_test"},
            "mode": "full",
        },
        "metrics": ["Recall", "NDCG"],
        "topk": [TOP_K],
        "valid_metric": f"NDCG@{TOP_K}",
        "metric_decimal_place": METRIC_PLACES,
        # Data: the columns SASRec needs (rating is unused, and not every file has it).
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        # Machine.
        "use_gpu": False,
        "show_progress": False,
        "checkpoint_dir": str(checkpoint_dir),
        "log_wandb": False,
    }


def dataset_location(data: Path | None) -> tuple[str, str | None]:
    """(RecBole dataset name, data_path) for a folder holding `<folder name>.inter`.

    None means RecBole's bundled ml-100k, whose data_path RecBole sets itself.
    """
    if data is None:
        return BUNDLED_DATASET, None
    if data.name == BUNDLED_DATASET:
        raise ValueError(
            f"{data}: RecBole reads its bundled {BUNDLED_DATASET} for this name and would "
            "ignore the folder; omit --data to use that copy, or rename the folder"
        )
    inter = data / f"{data.name}.inter"
    if not inter.is_file():
        raise FileNotFoundError(f"{inter} does not exist (RecBole wants <folder>/<folder>.inter)")
    return data.name, str(data.parent.resolve())


def best_epoch(valid_ndcg: Sequence[float]) -> int:
    """1-based epoch whose weights RecBole keeps: the last one reaching the running maximum.

    RecBole's early stopping replaces the saved best model when a score is >= the best so far.
    """
    if not valid_ndcg:
        raise ValueError("no epochs")
    best, chosen = float("-inf"), 0
    for epoch, value in enumerate(valid_ndcg, start=1):
        if value >= best:
            best, chosen = value, epoch
    return chosen


def _metric(result: dict[str, Any], name: str) -> float:
    # RecBole keys its results in lower case: "ndcg@10", "recall@10".
    return float(result[f"{name}@{TOP_K}"])


def _held_out(loader: Any) -> dict[str, str]:
    """User token -> held-out item token of one evaluation split."""
    dataset = loader._dataset
    users = dataset.id2token(dataset.uid_field, dataset.inter_feat[dataset.uid_field].numpy())
    items = dataset.id2token(dataset.iid_field, dataset.inter_feat[dataset.iid_field].numpy())
    return {str(u): str(i) for u, i in zip(users, items, strict=True)}


def train(data: Path | None, epochs: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Trains SASRec for `epochs` epochs and returns the peer's JSON object."""
    name, data_path = dataset_location(data)  # before the slow imports: fail fast
    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    config_dict = sasrec_config(epochs, seed, workdir / "saved")
    if data_path is not None:
        config_dict["data_path"] = data_path
    started = time.perf_counter()
    config = Config(model="SASRec", dataset=name, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = _timed(get_trainer(config["MODEL_TYPE"], config["model"]))(config, model)
    setup_seconds = time.perf_counter() - started

    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    history = trainer.epoch_log
    best = best_epoch([h["valid_ndcg@10"] for h in history])
    # Loads the checkpoint RecBole saved at the best epoch (a pickle: needs weights_only off).
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    return {
        "recbole_version": recbole.__version__,
        "torch_version": torch.__version__,
        "model": "SASRec",
        "dataset": name,
        "data_path": str(config["data_path"]),
        "n_users": int(dataset.user_num - 1),  # RecBole reserves id 0 for padding
        "n_items": int(dataset.item_num - 1),
        "interactions": len(dataset.inter_feat),
        "epochs": epochs,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "config": config_dict | {"checkpoint_dir": None},
        "setup_seconds": setup_seconds,
        "history": history,
        "best_epoch": best,
        "best_valid": {
            "ndcg@10": history[best - 1]["valid_ndcg@10"],
            "recall@10": history[best - 1]["valid_recall@10"],
        },
        "test": {"ndcg@10": _metric(test, "ndcg"), "recall@10": _metric(test, "recall")},
        "split": {"valid": _held_out(valid_data), "test": _held_out(test_data)},
    }


def _timed(base: type) -> type:
    """RecBole's trainer class, recording the wall time and validation metrics of each epoch.

    An epoch's clock runs from the start of its training pass to the end of its validation, so
    checkpoint writes and RecBole's logging between epochs are not counted (nor are Attune's).
    """

    class TimedTrainer(base):
        def __init__(self, config: Any, model: Any) -> None:
            super().__init__(config, model)
            self.epoch_log: list[dict[str, float]] = []
            self._elapsed = self._epoch_start = self._train_seconds = self._loss = 0.0

        def _train_epoch(self, train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            self._epoch_start = time.perf_counter()
            loss = super()._train_epoch(train_data, epoch_idx, *args, **kwargs)
            self._train_seconds = time.perf_counter() - self._epoch_start
            self._loss = float(sum(loss) if isinstance(loss, tuple) else loss)
            return loss

        def _valid_epoch(self, valid_data: Any, *args: Any, **kwargs: Any) -> Any:
            score, result = super()._valid_epoch(valid_data, *args, **kwargs)
            now = time.perf_counter()
            self._elapsed += now - self._epoch_start
            entry = {
                "epoch": float(len(self.epoch_log) + 1),
                "seconds": self._elapsed,
                "train_seconds": self._train_seconds,
                "valid_seconds": now - self._epoch_start - self._train_seconds,
                "loss": self._loss,
                "valid_ndcg@10": _metric(result, "ndcg"),
                "valid_recall@10": _metric(result, "recall"),
            }
            self.epoch_log.append(entry)
            # stderr: a full run takes about an hour and should show it is alive.
            print(
                f"recbole_peer: epoch {len(self.epoch_log)}, {self._elapsed:.0f} s, "
                f"valid ndcg@10 {entry['valid_ndcg@10']:.4f}",
                file=sys.stderr,
                flush=True,
            )
            return score, result

    return TimedTrainer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs to train")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding <folder>.inter (default: RecBole's bundled ml-100k)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch and BLAS threads")
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error("--epochs must be positive")
    if args.threads <= 0:
        parser.error("--threads must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    for var in _THREAD_VARS:
        os.environ[var] = str(args.threads)
    # The OpenMP setting Attune's package applies before torch loads (src/attune/__init__.py):
    # spin-waiting threads on cores shared with other processes slow training several-fold, and
    # both systems must run under the same runtime settings.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # RecBole's checkpoints are pickles that torch >= 2.6 refuses to load by default.
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    import torch

    torch.set_num_threads(args.threads)
    data = args.data.resolve() if args.data is not None else None
    # RecBole's Config reads `--key=value` config overrides from sys.argv; ours are not for it.
    del sys.argv[1:]
    # RecBole writes log/, log_tensorboard/ and checkpoints under the working directory; keep
    # them out of the repository. Its prints go to stderr so stdout carries only the JSON.
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="recbole-peer-") as tmp:
        os.chdir(tmp)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                result = train(data, args.epochs, args.seed, Path(tmp))
        finally:
            os.chdir(home)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
