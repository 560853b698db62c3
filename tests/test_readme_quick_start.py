"""The README's command-line quick start, followed literally: every line runs as written,
except the network fetch (no network here), with a small MovieLens-format folder in place of
`../shared/datasets/ml-100k` and the port of `serve` chosen free."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.test_readme_own_data import ROOT, _commands, serving

SECTION = "### Command line"
ML_100K = "../shared/datasets/ml-100k"


def _block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :].split("\n### ", 1)[0]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "the quick start lost its command block"
    return found.group(1)


def _write_data(folder: Path) -> Path:
    """A MovieLens 100K `u.data` (user, item, rating, time) and the README's `events.csv`."""
    ml = folder / "ml"
    ml.mkdir()
    start = 880_000_000
    with (ml / "u.data").open("w") as f:
        for u in range(1, 61):
            for step in range(8):
                item = 1 + (u % 3) * 10 + (u + step) % 10
                f.write(f"{u}\t{item}\t{3 + step % 3}\t{start + u * 100 + step}\n")
    with (folder / "events.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["uid", "sku", "ts", "kind"])
        for u in range(1, 21):
            out.writerow([str(u), f"sku-{u % 4}", 900_000_000 + u, "purchase"])
    return ml


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    ml = _write_data(tmp_path)
    commands = _commands(_block().replace(ML_100K, str(ml)))
    assert commands[0][:3] == ["attune", "data", "fetch"]  # needs network: not run here
    assert [c[1] for c in commands[1:]] == [
        "data", "data", "data", "train", "evaluate", "recommend", "keys", "serve"
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    key = ""
    for argv in commands[1:-1]:
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        key = next((w for w in done.stdout.split() if w.startswith("attune_")), key)
    assert (tmp_path / "users.csv").exists() and key
    with serving(commands[-1], tmp_path, env) as port:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/users/1/recommendations?k=5",
            headers={"X-API-Key": key},
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["items"]) == 5
