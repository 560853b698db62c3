"""`attune train --nproc N`: N local training processes without `torchrun`.

The workers are spawned (fresh interpreters, no forked torch state) with the variables
`torchrun` would set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and a free
MASTER_PORT), then each runs `attune.training.trainer.train` exactly as under `torchrun`.
Across machines, use `torchrun` itself (docs/training.md).
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
from pathlib import Path

import torch.multiprocessing as mp

from attune.data.dataset import Dataset
from attune.data.holdout import SelectionView
from attune.log import LogFormat, configure
from attune.model.device import resolve_device
from attune.training.config import TrainConfig
from attune.training.precision import MixedPrecision
from attune.training.result import TrainResult
from attune.training.trainer import train

RESULT_FILE = "result.pkl"


def free_port() -> int:
    """A TCP port on the loopback interface no one listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_processes(
    data: Dataset | SelectionView,
    config: TrainConfig,
    out_dir: Path | str,
    nproc: int,
    *,
    resume: bool = False,
    log_level: str = "warning",
    log_format: LogFormat = "console",
) -> TrainResult:
    """`train(data, config, out_dir)` over `nproc` local processes; returns rank 0's result.

    `log_level` and `log_format` configure the workers' logging (rank 0 logs the run).
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1 (got {nproc})")
    # A config the device cannot run fails here, as ConfigError, not in every worker.
    MixedPrecision(config.train.precision, resolve_device(config.train.device))
    with tempfile.TemporaryDirectory(prefix="attune-train-") as tmp:
        result_path = Path(tmp) / RESULT_FILE
        mp.start_processes(
            _worker,
            args=(nproc, free_port(), data, config, str(out_dir), resume, log_level, log_format,
                  str(result_path)),
            nprocs=nproc,
            start_method="spawn",
        )  # fmt: skip
        with open(result_path, "rb") as f:
            result: TrainResult = pickle.load(f)  # written by our own rank 0 just now
    return result


def _worker(
    local_rank: int,
    nproc: int,
    port: int,
    data: Dataset | SelectionView,
    config: TrainConfig,
    out_dir: str,
    resume: bool,
    log_level: str,
    log_format: LogFormat,
    result_path: str,
) -> None:
    """One spawned training process (`mp.start_processes` passes `local_rank` first)."""
    configure(log_level, fmt=log_format)
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    result = train(data, config, out_dir, resume=resume)
    if local_rank == 0:
        with open(result_path, "wb") as f:
            pickle.dump(result, f)


__all__ = ["free_port", "train_processes"]
