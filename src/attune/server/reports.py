"""The evaluation reports in a folder, as the benchmarks write them: `<name>.json` holding
`{"metrics": {...}, "command", "machine", "commit", "date"}`, and plots `<name>*.png` beside it.

The server only reads them, so a report can be produced anywhere (a bench run, a nightly
evaluation) and dropped into the folder; the newest is the one the dashboard shows.
"""

from __future__ import annotations

import glob
import json
import math
import re
from pathlib import Path
from typing import Any

from attune.schemas.operations import Report

PLOT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.png$")
"""A plot's file name: no folders, no hidden files, so a request cannot leave the folder."""


def latest(folder: Path) -> Report | None:
    """The most recently written readable report in `folder`; None when there is none."""
    if not folder.is_dir():
        return None
    candidates = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        report = _read(path)
        if report is not None:
            return report
    return None


def _read(path: Path) -> Report | None:
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("metrics"), dict):
        return None  # another kind of JSON file: not a report
    metrics = {
        str(k): float(v)
        for k, v in raw["metrics"].items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    name = path.stem
    plots = sorted(p.name for p in path.parent.glob(f"{glob.escape(name)}*.png") if _plot(p.name))
    return Report(
        name=name,
        date=_text(raw.get("date")),
        command=_text(raw.get("command")),
        commit=_text(raw.get("commit")),
        machine=_text(raw.get("machine")),
        metrics=metrics,
        plots=plots,
    )


def plot(folder: Path, name: str) -> Path | None:
    """The plot file `name` in `folder`, or None if the name is not a plot's or is absent."""
    if not _plot(name):
        return None
    path = folder / name
    return path if path.is_file() else None


def _plot(name: str) -> bool:
    return bool(PLOT_NAME.match(name))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
