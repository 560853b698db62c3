"""The README's path from a CSV of events and a CSV of items to recommendations, followed
literally: its shell lines run as written (the port aside), then its Python block."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "### From a CSV of events and a CSV of items"


def _blocks() -> tuple[str, str]:
    """The section's bash block and Python block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :].split("\n### ", 1)[0]
    bash = re.search(r"```bash\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert bash and python, "the README section lost its code blocks"
    return bash.group(1), python.group(1)


def _commands(bash: str) -> list[list[str]]:
    """Each command of the block as argv (continuations joined, comments dropped)."""
    joined = bash.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def _write_data(folder: Path) -> None:
    """Users who follow one of three item chains, in time order, and the chains' catalogue."""
    start = 1_700_000_000
    with (folder / "events.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["user", "item", "time", "action"])
        for u in range(60):
            chain = u % 3
            for step in range(8):
                action = "purchase" if step % 4 == 3 else "view"
                item = f"sku-{chain}-{(u + step) % 10}"
                out.writerow([f"user-{u}", item, start + u * 100 + step, action])
    with (folder / "items.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["item", "title", "category"])
        for chain in range(3):
            for n in range(10):
                out.writerow([f"sku-{chain}-{n}", f"Thing {chain}.{n}", f"shelf-{chain}"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(serve: list[str], cwd: Path, env: dict[str, str]) -> Iterator[int]:
    """The README's `attune serve` line on a free port instead of its own, until ready;
    yields the port, stops the server afterwards."""
    port = _free_port()
    serve = [*serve]
    serve[serve.index("--port") + 1] = str(port)
    server = subprocess.Popen(
        serve, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(60)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Path]:
    _write_data(tmp_path)
    yield tmp_path


def test_the_readme_path_from_two_csv_files_to_recommendations(shop: Path) -> None:
    bash, python = _blocks()
    commands = _commands(bash)
    assert [c[:2] for c in commands] == [
        ["attune", "data"],
        ["attune", "train"],
        ["attune", "keys"],
        ["attune", "serve"],
    ]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    key = ""
    for argv in commands[:3]:
        done = subprocess.run(
            argv, cwd=shop, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        key = next((w for w in done.stdout.split() if w.startswith("attune_")), key)
    assert key, "`attune keys create` printed no key"
    # The model trained after the `--items` import learnt from the item attributes too.
    out = Path(commands[1][commands[1].index("--out") + 1])
    configs = sorted((shop / out).rglob("config.json"))  # one per member of an ensemble
    assert configs and all(
        json.loads(c.read_text())["encoder"]["n_item_tokens"] > 0 for c in configs
    )
    with serving(commands[3], shop, env) as port:
        script = python.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=shop,
            env={**env, "KEY": key},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 5, done.stdout
        assert all(line.startswith("sku-") for line in lines), done.stdout
        assert any("Thing" in line for line in lines), done.stdout  # titles reach the reasons
