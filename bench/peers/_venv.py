"""What every peer runner shares: a stamped virtualenv built by a setup script, a subprocess
run with a time cap, and the peer's one-line JSON answer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

STAMP_NAME = ".requirements.sha256"
"""The setup scripts write the requirements' checksum here once a venv is complete."""


def venv_is_current(venv: Path, requirements: Path) -> bool:
    """True when `venv` was built from the current `requirements` file."""
    stamp = venv / STAMP_NAME
    if not (venv / "bin" / "python").exists() or not stamp.exists():
        return False
    return stamp.read_text().strip() == hashlib.sha256(requirements.read_bytes()).hexdigest()


def ensure_venv(
    venv: Path,
    requirements: Path,
    setup_script: Path,
    venv_env_var: str,
    timeout_s: float,
    error: type[Exception],
) -> Path:
    """Build or refresh the venv with its setup script when needed; returns its python."""
    if not venv_is_current(venv, requirements):
        env = {**os.environ, venv_env_var: str(venv)}
        try:
            done = subprocess.run(
                ["bash", str(setup_script)],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise error(f"{setup_script.name} ran past {timeout_s:.0f} s") from exc
        if done.returncode != 0 or not venv_is_current(venv, requirements):
            raise error(
                f"{setup_script.name} failed (exit {done.returncode}):\n{tail(done.stderr)}"
            )
    return venv / "bin" / "python"


def run_peer(command: list[str], timeout_s: float, who: str, error: type[Exception]) -> str:
    """Run the peer; its stdout, or `error` naming the command and the end of stderr."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"{who} ran past {timeout_s:.0f} s: {command}") from exc
    if done.returncode != 0:
        raise error(f"{who} failed (exit {done.returncode}): {command}\n{tail(done.stderr)}")
    return done.stdout


def last_json_line(stdout: str, who: str, error: type[Exception]) -> Any:
    """The JSON value on the last non-empty line of `stdout`."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise error(f"{who} printed nothing on stdout")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise error(f"{who}'s last line is not JSON: {lines[-1][:200]!r}") from exc


def tail(text: str, lines: int = 20) -> str:
    # tqdm redraws with carriage returns; keep only what a reader needs to see the cause.
    cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(cleaned[-lines:])
