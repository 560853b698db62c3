"""Runs the rtrec peer (rtrec_peer.py) in its own virtualenv from the main venv.

rtrec is never imported here: it pins scikit-learn, pandas and lightfm versions that are not
Attune's, so it lives in bench/peers/.venv-rtrec and talks to us through one JSON line.

    from peers.rtrec_runner import run_rtrec   # with bench/ on sys.path
    numbers = run_rtrec(2000, timeout_s=900)   # or run_rtrec(None, ...) for every test event
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peers import _venv

HERE = Path(__file__).resolve().parent
SETUP_SCRIPT = HERE / "setup_rtrec.sh"
PEER_SCRIPT = HERE / "rtrec_peer.py"
REQUIREMENTS = HERE / "requirements-rtrec.txt"
DEFAULT_VENV = HERE / ".venv-rtrec"
STAMP_NAME = _venv.STAMP_NAME
# Pip on an idle mirror takes under a minute; the cap only stops a hung install.
SETUP_TIMEOUT_S = 900.0
REQUIRED_KEYS = (
    "update_p50_ms",
    "update_p99_ms",
    "recommend_p50_ms",
    "recommend_p99_ms",
    "hr@10",
    "ndcg@10",
    "events",
    "seconds",
    "rtrec_version",
)


class RtrecPeerError(RuntimeError):
    """The rtrec peer could not be set up, failed, timed out or printed no result."""


def venv_is_current(venv: Path = DEFAULT_VENV) -> bool:
    """True when `venv` was built by setup_rtrec.sh from the current requirements file."""
    return _venv.venv_is_current(venv, REQUIREMENTS)


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Builds or refreshes the peer venv when needed and returns its python."""
    return _venv.ensure_venv(
        venv, REQUIREMENTS, SETUP_SCRIPT, "RTREC_VENV", SETUP_TIMEOUT_S, RtrecPeerError
    )


def parse_peer_output(stdout: str) -> dict[str, Any]:
    """The peer's result: the last non-empty stdout line, a JSON object with every metric."""
    result = _venv.last_json_line(stdout, "the rtrec peer", RtrecPeerError)
    if not isinstance(result, dict):
        raise RtrecPeerError(f"the rtrec peer printed {type(result).__name__}, not an object")
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise RtrecPeerError(f"the rtrec peer's result lacks {missing}")
    return result


def run_rtrec(
    n_events: int | None,
    timeout_s: float,
    *,
    data: Path | None = None,
    threads: int | None = None,
    venv: Path = DEFAULT_VENV,
) -> dict[str, Any]:
    """Streams `n_events` test events (None: all of them) through rtrec's SLIM and returns the
    peer's JSON: update/recommend p50/p99 in ms, hr@10, ndcg@10, events, seconds, version.

    `timeout_s` bounds the peer run (setup, if needed, has its own cap). `data` defaults to
    ml-100k in ../shared; `threads` to the machine's core count.
    """
    if n_events is not None and n_events <= 0:
        raise ValueError(f"n_events must be positive or None, got {n_events}")
    python = ensure_venv(venv)
    command = [str(python), str(PEER_SCRIPT)]
    command += ["--all"] if n_events is None else ["--events", str(n_events)]
    if data is not None:
        command += ["--data", str(data)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return parse_peer_output(_venv.run_peer(command, timeout_s, "the rtrec peer", RtrecPeerError))
