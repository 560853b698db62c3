"""Runs the RecBole peer (recbole_peer.py) in its own virtualenv from the main venv.

RecBole is never imported here: it needs numpy 1.x and pandas < 2.2, which are not Attune's, so
it lives in bench/peers/.venv-recbole and talks to us through one JSON line.

    from peers.recbole_runner import run_recbole   # with bench/ on sys.path
    result = run_recbole(15, timeout_s=5400)       # SASRec on ml-100k, 15 epochs
    result["history"][-1]["valid_ndcg@10"]
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from peers import _venv

HERE = Path(__file__).resolve().parent
SETUP_SCRIPT = HERE / "setup_recbole.sh"
PEER_SCRIPT = HERE / "recbole_peer.py"
REQUIREMENTS = HERE / "requirements-recbole.txt"
DEFAULT_VENV = HERE / ".venv-recbole"
STAMP_NAME = _venv.STAMP_NAME
# torch and RecBole from the local wheel mirror install in about a minute; this only stops a hang.
SETUP_TIMEOUT_S = 1200.0
REQUIRED_KEYS = (
    "recbole_version",
    "epochs",
    "threads",
    "setup_seconds",
    "history",
    "best_epoch",
    "best_valid",
    "test",
    "split",
)
EPOCH_KEYS = ("seconds", "valid_ndcg@10", "valid_recall@10")
METRIC_KEYS = ("ndcg@10", "recall@10")


class RecBolePeerError(RuntimeError):
    """The RecBole peer could not be set up, failed, timed out or printed no usable result."""


def venv_is_current(venv: Path = DEFAULT_VENV) -> bool:
    """True when `venv` was built by setup_recbole.sh from the current requirements file."""
    return _venv.venv_is_current(venv, REQUIREMENTS)


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Builds or refreshes the peer venv when needed and returns its python."""
    return _venv.ensure_venv(
        venv, REQUIREMENTS, SETUP_SCRIPT, "RECBOLE_VENV", SETUP_TIMEOUT_S, RecBolePeerError
    )


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecBolePeerError(f"the RecBole peer's {where} is {value!r}, not a finite number")
    return float(value)


def validate_result(result: Any) -> dict[str, Any]:
    """`result` if it is a complete peer object with a usable learning curve, else an error.

    A usable curve has one entry per epoch, each with finite metrics and cumulative seconds
    that never decrease (time-to-target reads them as a clock).
    """
    if not isinstance(result, dict):
        raise RecBolePeerError(f"the RecBole peer printed {type(result).__name__}, not an object")
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise RecBolePeerError(f"the RecBole peer's result lacks {missing}")
    history = result["history"]
    if not isinstance(history, list) or not history:
        raise RecBolePeerError("the RecBole peer's history has no epochs")
    if len(history) != result["epochs"]:
        raise RecBolePeerError(
            f"the RecBole peer ran {len(history)} epochs, not the {result['epochs']} it reports"
        )
    previous = 0.0
    for number, entry in enumerate(history, start=1):
        if not isinstance(entry, dict):
            raise RecBolePeerError(f"the RecBole peer's epoch {number} is not an object")
        for key in EPOCH_KEYS:
            if key not in entry:
                raise RecBolePeerError(f"the RecBole peer's epoch {number} lacks {key!r}")
            _finite(entry[key], f"epoch {number} {key}")
        if entry["seconds"] < previous:
            raise RecBolePeerError(f"the RecBole peer's clock runs backwards at epoch {number}")
        previous = entry["seconds"]
    if not 1 <= result["best_epoch"] <= len(history):
        raise RecBolePeerError(f"the RecBole peer's best epoch {result['best_epoch']} is invalid")
    for part in ("best_valid", "test"):
        for key in METRIC_KEYS:
            _finite(result[part].get(key), f"{part} {key}")
    return result


def parse_peer_output(stdout: str) -> dict[str, Any]:
    """The peer's result: the last non-empty stdout line, validated by `validate_result`."""
    return validate_result(_venv.last_json_line(stdout, "the RecBole peer", RecBolePeerError))


def load_result(path: Path) -> dict[str, Any]:
    """A peer result saved earlier (the JSON object, as `run_recbole` returned it)."""
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecBolePeerError(f"{path} is not JSON: {exc}") from exc
    return validate_result(result)


def run_recbole(
    epochs: int,
    timeout_s: float,
    *,
    data: Path | None = None,
    threads: int = 2,
    seed: int = 2020,
    venv: Path = DEFAULT_VENV,
    progress: bool = False,
) -> dict[str, Any]:
    """Trains RecBole's SASRec for `epochs` epochs and returns the peer's JSON object: per-epoch
    cumulative seconds and validation NDCG@10/Recall@10 (`history`), `best_epoch`, its
    `best_valid` and `test` metrics, `setup_seconds`, and each user's held-out items (`split`).

    `timeout_s` bounds the peer run (setup, if needed, has its own cap). `data` is a folder
    holding `<folder>.inter`; the default is RecBole's bundled ml-100k. With `progress`, the
    peer's log (one line per epoch, RecBole's own logging) goes to this process's stderr as it
    runs instead of being kept for the error message.
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    python = ensure_venv(venv)
    command = [str(python), str(PEER_SCRIPT), "--epochs", str(epochs)]
    command += ["--threads", str(threads), "--seed", str(seed)]
    if data is not None:
        command += ["--data", str(data)]
    try:
        done = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=None if progress else subprocess.PIPE,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RecBolePeerError(f"the RecBole peer ran past {timeout_s:.0f} s: {command}") from exc
    if done.returncode != 0:
        cause = "(its log is above)" if progress else _venv.tail(done.stderr)
        raise RecBolePeerError(
            f"the RecBole peer failed (exit {done.returncode}): {command}\n{cause}"
        )
    return parse_peer_output(done.stdout)
