"""Shared benchmark plumbing: machine description, commit, and the json + md result files.

Every benchmark writes `bench/results/<name>.json` shaped
`{"metrics": {key: number}, "command": ..., "machine": ..., "commit": ..., "date": ...}` and a
Markdown table beside it, and prints the table.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} cores {cpu}, {mem_gib:.0f} GiB, {gpu}, Python "
        f"{platform.python_version()}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        dirty = subprocess.run(  # results being written (a resumable part's trials) are
            # outputs, not the code that measured: they do not make a commit dirty
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
             ":(top,exclude)bench/results"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        )  # fmt: skip
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    """This benchmark's command as run, from the repository root."""
    return "python " + " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]])


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_results(
    name: str, metrics: dict[str, float], body_md: str, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write results/<name>.json and .md, print the Markdown, return the JSON path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = command_line()
    payload: dict[str, Any] = {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "command": command,
        "machine": machine(),
        "commit": commit(),
        "date": now(),
    }
    if extra:
        payload.update(extra)
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md = (
        f"# {name}\n\n{body_md}\n\nCommand: `{command}`  \nMachine: {payload['machine']}  \n"
        f"Commit: {payload['commit']}  \nDate: {payload['date']}\n"
    )
    (RESULTS / f"{name}.md").write_text(md)
    print(md)
    return json_path


def merge_part(
    name: str, part: str, metrics: dict[str, float], rows: list[list[Any]]
) -> dict[str, Any]:
    """Fold one part's results into results/<name>.json's payload, keeping the other parts as
    they were; every part keeps its own command, commit and date."""
    path = RESULTS / f"{name}.json"
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"parts": {}}
    parts = dict(old.get("parts", {}))
    parts[part] = {
        "metrics": metrics,
        "rows": rows,
        "command": command_line(),
        "commit": commit(),
        "date": now(),
    }
    merged = {k: v for p in parts.values() for k, v in p["metrics"].items()}
    return {
        "metrics": merged,
        "command": command_line(),
        "machine": machine(),
        "commit": commit(),
        "date": now(),
        "parts": parts,
    }


def write_parts(name: str, payload: dict[str, Any], headers: dict[str, list[str]]) -> None:
    """Write results/<name>.json and .md of a benchmark made of parts (`merge_part`), one
    Markdown section per part (`headers`: each part's table header), and print the Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    sections = []
    for part, result in sorted(payload["parts"].items()):
        sections.append(
            f"## {part}\n\n{markdown_table(headers[part], result['rows'])}\n\n"
            f"Command: `{result['command']}`, commit {result['commit']}, {result['date']}"
        )
    md = f"# {name}\n\n" + "\n\n".join(sections) + f"\n\nMachine: {payload['machine']}\n"
    (RESULTS / f"{name}.md").write_text(md)
    print(md)
