"""The `http` part of bench/scale.py: the request mix and client of bench/http_load.py against
one SQLite server and against 1, 2 and 4 uvicorn workers over one Redis, for the one-model and
the default (two-member) Beauty model; then batch ingestion on Redis until every V_u is
recomputed.

Every configuration starts from the same data: Beauty imported once into a SQLite file and
once into a Redis, each then opened once by an engine (which counts popularity and builds
every user's state, kept in the SQLite file's snapshot or in Redis), and copied for each run,
so that no run sees another run's events and every server starts as a restarted deployment
does, with no user's forward cached. Each server restores, answers `/readyz`, then serves a
warm-up and a measured window at concurrency 16 and 64. Redis runs `appendonly yes` with
`appendfsync always`. The load generator, Redis and the servers share the machine's cores: the
CPU each used is reported.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import CACHE, cached_model
from _redis_server import redis_server
from _report import SHARED
from http_load import Plan, batch_requests, load_phase, mixed_requests, pristine_db, run_clients

WORKERS = (1, 2, 4)
CONCURRENCY = (16, 64)
MODELS = {"one": 1, "default": 2}
"""Label -> members of the cached Beauty model (the training default is a pair)."""


# -- processes ----------------------------------------------------------------------------------


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (uvicorn workers)."""
    total, stack = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Served:
    """One `attune serve` (with its workers), shaped like http_load's ServerProc."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        return _tree_cpu_seconds(self.proc.pid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/readyz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@contextmanager
def serve(store: str, model: Path, workers: int, folder: Path) -> Iterator[Served]:
    """`attune serve` over `store` (a path: SQLite, `--db`; a URL: `--store`) until it answers
    `/readyz` 40 times in a row (every worker ready), stopped with SIGTERM afterwards."""
    port = _free_port()
    where = ["--store", store] if "://" in store else ["--db", store]
    cmd = [sys.executable, "-c", "from attune.cli.main import app; app()", "--log-level",
           "warning", "serve", *where, "--model", str(model), "--port", str(port),
           "--workers", str(workers)]  # fmt: skip
    log = folder / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, streak = time.monotonic() + 300, 0
        while streak < 40:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            streak = streak + 1 if _ready(port) else 0
            time.sleep(0.05 if streak else 0.2)
        yield Served(proc, port, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()


def _redis_pid(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("server")["process_id"])


# -- data ---------------------------------------------------------------------------------------


def pristine_redis() -> Path:
    """Beauty imported once into a Redis folder (append-only files), kept in the bench cache,
    and opened once by an engine with the default model, so that popularity is counted and
    every user has a state (as a deployment that has been serving has); each run serves a
    copy."""
    folder = CACHE / "scale" / "redis-beauty"
    if not (folder / ".complete").exists():
        from attune.data import load
        from attune.engine import Engine
        from attune.stores import open_storage

        shutil.rmtree(folder, ignore_errors=True)
        with redis_server(folder) as url:
            with open_storage(url) as store:
                store.import_dataset(load(SHARED / "beauty"), progress=False)
            Engine.open(url, cached_model("beauty", max_epochs=3, members=2)).close()
        (folder / ".complete").touch()
    return folder


def pristine_sqlite() -> Path:
    """Beauty's SQLite file opened once by an engine with the default model, as
    `pristine_redis` is: its state snapshot holds every user's state, so each run's server
    restores it and, like the Redis servers, starts with no user's forward cached (a server
    that computed every V_u at start would hold each user's attention for the reasons, which
    a restarted deployment does not)."""
    folder = CACHE / "scale" / "sqlite-beauty"
    db = folder / "beauty.db"
    if not (folder / ".complete").exists():
        from attune.engine import Engine

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(pristine_db(), db)
        Engine.open(str(db), cached_model("beauty", max_epochs=3, members=2)).close()
        (folder / ".complete").touch()
    return db


def copied_sqlite(tmp: Path, name: str) -> Path:
    """A copy of the pristine database and the files beside it (snapshots) as `tmp/name`."""
    src = pristine_sqlite()
    for f in src.parent.glob(src.name + "*"):
        shutil.copy(f, tmp / (name + f.name.removeprefix(src.name)))
    return tmp / name


@contextmanager
def copied_redis(tmp: Path) -> Iterator[str]:
    """A Redis started on a copy of the pristine folder; yields its URL."""
    folder = tmp / f"redis-{time.monotonic_ns()}"
    shutil.copytree(pristine_redis(), folder)
    (folder / "redis.log").unlink(missing_ok=True)
    with redis_server(folder) as url:
        yield url


def _ids_and_key(store: str) -> tuple[list[str], list[str], str]:
    from attune.server.security import ApiScope, open_key_ring
    from attune.stores import open_storage

    with open_storage(store) as opened:
        users, items = list(opened.users.ids), list(opened.items.ids)
    key, _ = open_key_ring(store).create({ApiScope.ADMIN}, name="bench")
    return users, items, key


# -- phases -------------------------------------------------------------------------------------


def _mixed(
    served: Served, store: str, redis_url: str | None, args: Any
) -> dict[str, dict[str, float]]:
    users, items, key = _ids_and_key(store)
    out = {}
    for c in CONCURRENCY:
        reqs = mixed_requests(users, items, key, 200_000, seed=c)
        redis_cpu0 = _tree_cpu_seconds(_redis_pid(redis_url)) if redis_url else 0.0
        got = load_phase(served, reqs, c, args.processes, args.warmup, args.duration)  # type: ignore[arg-type]
        if redis_url:
            window = args.warmup + args.duration + 1.0
            got["redis_cores"] = (_tree_cpu_seconds(_redis_pid(redis_url)) - redis_cpu0) / window
        out[f"c{c}"] = got
    return out


def _stats_backlog(port: int, key: str) -> int:
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/v1/stats?window=2", headers={"X-API-Key": key})
    body = conn.getresponse().read()
    conn.close()
    return int(json.loads(body)["refresh_backlog"])


def _batch_ingest(served: Served, store: str, batches: int) -> dict[str, float]:
    """1,000-event batches over two connections; acknowledged events/s, and events/s until the
    refresh backlog is empty (every V_u recomputed)."""
    users, items, key = _ids_and_key(store)
    reqs = batch_requests(users, items, key, batches, seed=1)
    start = time.time() + 1.0
    plans = [
        Plan(served.port, 1, part, start, start, start + 3600, limit=len(part))
        for part in (reqs[0::2], reqs[1::2])
    ]
    _, lat, errors, _ = run_clients(plans)
    acked = time.time() - start
    while _stats_backlog(served.port, key):
        time.sleep(0.01)
    drained = time.time() - start
    return {
        "events_per_s": len(lat) * 1000 / acked,
        "refreshed_events_per_s": len(lat) * 1000 / drained,
        "errors": float(errors),
    }


def run_http(args: Any) -> tuple[dict[str, float], list[list[Any]]]:
    """Every configuration, both models; the metrics the scale-out issue names, and rows."""
    metrics: dict[str, float] = {}
    rows: list[list[Any]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="attune-scale-") as name:
        tmp = Path(name)
        pristine_redis()
        for label, members in MODELS.items():
            model = cached_model("beauty", max_epochs=3, members=members)
            db = copied_sqlite(tmp, f"beauty-{label}.db")
            with serve(str(db), model, 1, tmp) as served:
                _record(metrics, rows, f"sqlite/{label}", _mixed(served, str(db), None, args))
            for w in WORKERS:
                with copied_redis(tmp) as url, serve(url, model, w, tmp) as served:
                    _record(metrics, rows, f"redis_{w}w/{label}", _mixed(served, url, url, args))
        with copied_redis(tmp) as url, serve(url, cached_model("beauty", max_epochs=3, members=2),
                                             1, tmp) as served:  # fmt: skip
            ingest = _batch_ingest(served, url, args.batches)
    metrics |= {f"redis_1w/default/batch_ingest/{k}": v for k, v in ingest.items()}
    metrics |= _headline(metrics, ingest)
    metrics["load_average_before"] = load_before
    metrics["load_average_after"] = os.getloadavg()[0]
    return metrics, rows


def _record(
    metrics: dict[str, float], rows: list[list[Any]], name: str, got: dict[str, dict[str, float]]
) -> None:
    for c, values in got.items():
        metrics |= {f"{name}/{c}/{k}": v for k, v in values.items()}
        rows.append([
            name, c, f"{values['req_per_s']:,.0f}", f"{values['p50_ms']:.1f}",
            f"{values['p99_ms']:.1f}", f"{values['recommend_p99_ms']:.1f}",
            f"{values['errors']:.0f}", f"{values['server_cores']:.2f}",
            f"{values.get('redis_cores', float('nan')):.2f}", f"{values['client_cores']:.2f}",
        ])  # fmt: skip


def _headline(metrics: dict[str, float], ingest: dict[str, float]) -> dict[str, float]:
    """The issue's keys: default model, concurrency 64."""
    rps = {n: metrics[f"{n}/default/c64/req_per_s"] for n in ("sqlite", "redis_1w", "redis_2w",
                                                              "redis_4w")}  # fmt: skip
    errors = sum(v for k, v in metrics.items() if k.endswith("/errors"))
    return {
        "sqlite_rps": rps["sqlite"],
        "redis_1w_rps": rps["redis_1w"],
        "redis_2w_rps": rps["redis_2w"],
        "redis_4w_rps": rps["redis_4w"],
        "redis_2w_over_1w": rps["redis_2w"] / rps["redis_1w"],
        "redis_1w_over_sqlite": rps["redis_1w"] / rps["sqlite"],
        "redis_2w_recommend_p99_ms": metrics["redis_2w/default/c64/recommend_p99_ms"],
        "errors": errors,
        "redis_ingest_events_per_s": ingest["refreshed_events_per_s"],
    }


HTTP_HEADER = ["server / model", "concurrency", "req/s", "p50 ms", "p99 ms", "recommend p99 ms",
               "errors", "server cores", "redis cores", "client cores"]  # fmt: skip
