"""Real `attune serve` processes on free loopback ports, over the engine tests' clustered data."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from attune.data.dataset import Dataset
from attune.server.security import ApiScope, open_key_ring
from attune.stores import open_storage

STOPPED = (0, -signal.SIGTERM)
"""Exit status of a server stopped by SIGTERM (uvicorn re-raises the signal once shut down)."""
_RUNNING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


@dataclass
class Server:
    """One `attune serve` subprocess; `url` is set once it listens."""

    db: Path | str
    """A database path (`--db`), or a storage URL (`--store redis://...`)."""
    model: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    log: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    code: str = "from attune.cli.main import app; app()"
    """What `python -c` runs: the CLI (a test may patch something first)."""

    def start(self, timeout: float = 90.0, *, check: bool = True) -> Server:
        """Run the server until it listens (or, with `check=False`, until it listens or exits)."""
        cmd = [
            sys.executable, "-c", self.code, "--log-level", "info",
            "serve", *self.source, "--model", str(self.model), "--port", "0", *self.args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **self.env}
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
        )
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        ready.wait(timeout)
        if not self.url and check:
            self.stop(signal.SIGKILL)
            raise RuntimeError("server did not start:\n" + "".join(self.log[-30:]))
        return self

    @property
    def source(self) -> list[str]:
        return ["--store", self.db] if isinstance(self.db, str) else ["--db", str(self.db)]

    def _read(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if not self.url and (m := _RUNNING.search(line)):
                self.url = f"http://{m.group(1)}:{m.group(2)}"
                ready.set()
        ready.set()  # the process ended

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the server (SIGTERM: graceful, snapshot written; SIGKILL: a crash)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait()

    @property
    def output(self) -> str:
        return "".join(self.log)


def make_db(trained: tuple[Dataset, Path], folder: Path) -> tuple[Path, Path]:
    """A fresh database holding the dataset, and a copy of the model, in `folder`."""
    data, model_dir = trained
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "attune.db"
    with open_storage(db) as store:
        store.import_dataset(replace(data), progress=False)
    shutil.copytree(model_dir, folder / "model")
    return db, folder / "model"


@dataclass(frozen=True)
class Keys:
    ingest: str
    recommend: str
    admin: str


def make_keys(db: Path) -> Keys:
    ring = open_key_ring(db)
    made = {s: ring.create({s}, name=f"test {s}")[0] for s in ApiScope}
    return Keys(made[ApiScope.INGEST], made[ApiScope.RECOMMEND], made[ApiScope.ADMIN])


@pytest.fixture(scope="session")
def keyed_server(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Keys]]:
    """A server with API keys, shared by the API tests (each test uses its own users)."""
    db, model = make_db(trained, tmp_path_factory.mktemp("keyed"))
    keys = make_keys(db)
    server = Server(db, model).start()
    yield server, keys
    assert server.stop() in STOPPED, server.output


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `predicate` every 50 ms until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
