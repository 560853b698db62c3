"""Start-up time of the command line and the Python client, as a user meets it.

Runs `attune --version`, `attune --help` and `python -c "import attune.client"`, each as a
fresh process (after one unmeasured run that writes the bytecode caches), and reports the
median wall-clock time of the measured runs. Target: each under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, write_results

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5


def _attune() -> str:
    """The `attune` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("attune")
    found = str(beside) if beside.exists() else shutil.which("attune")
    if found is None:
        raise SystemExit("no `attune` console script: install the package (`make install`)")
    return found


def _seconds(cmd: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of `runs` fresh processes of `cmd`, after one warm-up run."""
    # This checkout's code, also when the console script's install points elsewhere.
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    out = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        if i:
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="Measured processes per command.")
    args = parser.parse_args()
    attune = _attune()
    commands = {
        "cli_version_s": ("attune --version", [attune, "--version"]),
        "cli_help_s": ("attune --help", [attune, "--help"]),
        "client_import_s": (
            'python -c "import attune.client"',
            [sys.executable, "-c", "import attune.client"],
        ),
    }
    metrics: dict[str, float] = {}
    rows = []
    for key, (shown, cmd) in commands.items():
        times = _seconds(cmd, args.runs)
        metrics[key] = statistics.median(times)
        rows.append([f"`{shown}`", metrics[key], min(times), max(times), f"< {TARGET_S}"])
    table = markdown_table(["command", "median (s)", "min (s)", "max (s)", "target (s)"], rows)
    note = f"Each command run {args.runs} times as a fresh process, after one warm-up run."
    write_results("startup", metrics, f"{table}\n\n{note}", extra={"runs": args.runs})


if __name__ == "__main__":
    main()
