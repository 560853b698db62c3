"""Start-up time of the command line and the Python client, as a user meets it.

Runs `attune --version`, `attune --help` and `python -c "import attune.client"`, each as a
fresh process (after one unmeasured run that writes the bytecode caches), and reports the
median wall-clock time of the measured runs. Target: each under 0.5 s. The table also gives
the median CPU time (user + system) of the process, which other load on the machine inflates
much less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _seconds(cmd: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of `runs` fresh processes of `cmd`, after one warm-up run."""
    # This checkout's code, also when the console script's install points elsewhere.
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    wall, cpu = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        if i:
            wall.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


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
    cpu_s: dict[str, float] = {}
    rows = []
    for key, (shown, cmd) in commands.items():
        wall, cpu = _seconds(cmd, args.runs)
        metrics[key], cpu_s[key] = statistics.median(wall), statistics.median(cpu)
        rows.append([f"`{shown}`", metrics[key], min(wall), max(wall), cpu_s[key], TARGET_S])
    header = ["command", "median (s)", "min (s)", "max (s)", "median CPU (s)", "target (s)"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    note = (
        f"Wall-clock times; each command run {args.runs} times as a fresh process, after one "
        f"warm-up run. Load average (1, 5, 15 min) at the end: {load}."
    )
    body = f"{markdown_table(header, rows)}\n\n{note}"
    write_results("startup", metrics, body, extra={"runs": args.runs, "cpu_s": cpu_s})


if __name__ == "__main__":
    main()
