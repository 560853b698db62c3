"""HTTP load benchmark (issue 5): closed-loop clients against `attune serve` on loopback.

The server runs the Beauty model in its own process (one uvicorn worker, as in production).
Clients run in separate processes; each multiplexes several keep-alive connections over raw
sockets with `selectors`, one request in flight per connection (closed loop), so a client
costs a few tens of microseconds of CPU per request. The mix is 80% `GET .../recommendations`
(k=10, random known user) and 20% single-event `POST /v1/events` (random user and item), at
concurrency 16 and 64; then batch ingestion, 1,000 events per request. Every request carries
an API key, as in production.

    python bench/http_load.py [--model DIR] [--duration 15] [--concurrency 16 64]
    python bench/http_load.py --members 2     # the training default, a pair of models
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import CACHE, cached_model
from _report import SHARED, markdown_table, write_results

# -- the server ---------------------------------------------------------------------------------


def pristine_db() -> Path:
    """Beauty imported into a database once; each run serves a copy (runs write to it)."""
    db = CACHE / "http_load" / "beauty.db"
    if not db.exists():
        from attune.data import load
        from attune.stores import open_storage

        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        with open_storage(tmp) as store:
            store.import_dataset(load(SHARED / "beauty"), progress=False)
        tmp.rename(db)
    return db


@dataclass
class ServerProc:
    proc: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(db: Path, model: Path, extra_env: dict[str, str]) -> ServerProc:
    cmd = [sys.executable, "-c", "from attune.cli.main import app; app()", "--log-level", "info",
           "serve", "--db", str(db), "--model", str(model), "--port", "0"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, **extra_env},
    )  # fmt: skip
    assert proc.stderr is not None
    log: list[str] = []
    for line in proc.stderr:
        log.append(line)
        if m := re.search(r"Uvicorn running on http://[\d.]+:(\d+)", line):
            server = ServerProc(proc, int(m.group(1)), log)
            threading.Thread(target=lambda: log.extend(proc.stderr or []), daemon=True).start()
            return server
    raise RuntimeError("server did not start:\n" + "".join(log[-30:]))


# -- the clients --------------------------------------------------------------------------------


def _request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class Plan:
    """What one client process does: its requests, connections and time window."""

    port: int
    connections: int
    requests: list[tuple[int, bytes]]
    """(kind, raw request) pairs, cycled: kind 0 = recommend, 1 = ingest."""
    start: float
    measure_from: float
    end: float
    limit: int | None = None
    """Send at most this many requests (then stop), instead of cycling until `end`."""


@dataclass
class _Conn:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    kind: int = 0
    sent: float = 0.0


def client(plan: Plan, out: mp.connection.Connection) -> None:
    """Closed loop on `plan.connections` sockets; sends back latencies per kind and errors."""
    latencies = (array("d"), array("d"))
    errors = 0
    sel = selectors.DefaultSelector()
    nxt = 0 if plan.limit else random.Random(os.getpid()).randrange(len(plan.requests))
    budget = plan.limit if plan.limit is not None else -1

    def send(c: _Conn) -> bool:
        nonlocal nxt, budget
        if budget == 0:
            return False
        budget -= 1
        c.kind, raw = plan.requests[nxt]
        nxt = (nxt + 1) % len(plan.requests)
        c.sent = time.perf_counter()
        c.sock.sendall(raw)
        return True

    conns = []
    for _ in range(plan.connections):
        s = socket.create_connection(("127.0.0.1", plan.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(_Conn(s))
    time.sleep(max(0.0, plan.start - time.time()))
    offset = time.time() - time.perf_counter()  # perf_counter -> wall clock
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
        send(c)
    open_conns = len(conns)
    while open_conns:
        for key, _ in sel.select(timeout=5.0):
            c = key.data
            chunk = c.sock.recv(1 << 16)
            if not chunk:
                errors += 1
                sel.unregister(c.sock)
                open_conns -= 1
                continue
            c.buf += chunk
            head_end = c.buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = bytes(c.buf[:head_end]).lower()
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(c.buf) < head_end + 4 + length:
                continue
            done = time.perf_counter()
            status_ok = c.buf.startswith(b"HTTP/1.1 200")
            del c.buf[: head_end + 4 + length]
            if plan.measure_from <= done + offset < plan.end:
                latencies[c.kind].append(done - c.sent)
                errors += not status_ok
            if not (done + offset < plan.end and send(c)):
                sel.unregister(c.sock)
                c.sock.close()
                open_conns -= 1
    out.send((latencies[0].tobytes(), latencies[1].tobytes(), errors, time.process_time()))
    out.close()


def run_clients(plans: list[Plan]) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Start one process per plan; (recommend latencies, ingest latencies, errors, client CPU)."""
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for plan in plans:
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=client, args=(plan, send), daemon=True)
        p.start()
        pipes.append(recv)
        procs.append(p)
    rec, ing, errors, cpu = [], [], 0, 0.0
    for pipe in pipes:
        a, b, e, c = pipe.recv()
        rec.append(np.frombuffer(a))
        ing.append(np.frombuffer(b))
        errors, cpu = errors + e, cpu + c
    for p in procs:
        p.join()
    return np.concatenate(rec), np.concatenate(ing), errors, cpu


def mixed_requests(
    users: list[str], items: list[str], key: str, n: int, seed: int
) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        user = rng.choice(users)
        if rng.random() < 0.8:
            path = f"/v1/users/{quote(user, safe='')}/recommendations?k=10"
            out.append((0, _request("GET", path, key)))
        else:
            body = json.dumps({"user_id": user, "item_id": rng.choice(items)}).encode()
            out.append((1, _request("POST", "/v1/events", key, body)))
    return out


def batch_requests(
    users: list[str], items: list[str], key: str, n: int, seed: int
) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        events = [{"user_id": u, "item_id": rng.choice(items)} for u in rng.sample(users, 1000)]
        out.append((1, _request("POST", "/v1/events", key, json.dumps(events).encode())))
    return out


def wait_refreshed(port: int, key: str, timeout: float = 300.0) -> float:
    """The time at which the server's V_u refresh backlog (bulk ingests) was first seen empty,
    polled every 10 ms."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = f"GET /v1/stats?window=2 HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n"
            sock.sendall(head.encode() + b"Connection: close\r\n\r\n")
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"GET /v1/stats: {raw[:300]!r}")
        if json.loads(body)["refresh_backlog"] == 0:
            return time.time()
        time.sleep(0.01)
    raise RuntimeError("the refresh backlog did not drain")


def load_phase(
    server: ServerProc,
    requests: list[tuple[int, bytes]],
    concurrency: int,
    processes: int,
    warmup: float,
    duration: float,
) -> dict[str, float]:
    start = time.time() + 1.0
    per = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    chunk = len(requests) // processes
    plans = [
        Plan(server.port, n, requests[i * chunk : (i + 1) * chunk], start, start + warmup,
             start + warmup + duration)
        for i, n in enumerate(per)
    ]  # fmt: skip
    cpu0 = server.cpu_seconds()
    rec, ing, errors, client_cpu = run_clients(plans)
    server_cpu = server.cpu_seconds() - cpu0
    both = np.concatenate([rec, ing]) * 1000
    return {
        "req_per_s": len(both) / duration,
        "p50_ms": float(np.percentile(both, 50)),
        "p99_ms": float(np.percentile(both, 99)),
        "errors": float(errors),
        "recommend_p99_ms": float(np.percentile(rec * 1000, 99)),
        "ingest_p99_ms": float(np.percentile(ing * 1000, 99)) if len(ing) else float("nan"),
        "server_cores": server_cpu / (warmup + duration + 1.0),
        "client_cores": client_cpu / (warmup + duration + 1.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model directory (default: train/cache Beauty)")
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per phase")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--processes", type=int, default=2, help="client processes per phase")
    ap.add_argument("--batches", type=int, default=100, help="1,000-event batches to send")
    ap.add_argument("--batch-concurrency", type=int, default=2)
    ap.add_argument(
        "--members",
        type=int,
        default=1,
        help="members of the cached Beauty model (the training default is 2); more than one "
        "writes http_load_members<N>.*",
    )
    args = ap.parse_args()
    if args.model is not None and args.members != 1:
        ap.error("--members picks the cached model; give it or --model, not both")

    model = args.model or cached_model("beauty", max_epochs=3, members=args.members)
    tmp = Path(tempfile.mkdtemp(prefix="attune-http-"))
    db = tmp / "beauty.db"
    shutil.copy(pristine_db(), db)

    from attune.server.security import ApiScope, open_key_ring
    from attune.stores import open_storage

    with open_storage(db) as store:
        users, items = list(store.users.ids), list(store.items.ids)
    key, _ = open_key_ring(db).create({ApiScope.ADMIN}, name="bench")
    server = start_server(db, model, {})
    load_before = os.getloadavg()[0]
    metrics: dict[str, float] = {}
    rows = []
    try:
        for c in args.concurrency:
            reqs = mixed_requests(users, items, key, 200_000, seed=c)
            got = load_phase(server, reqs, c, args.processes, args.warmup, args.duration)
            metrics |= {f"c{c}/{k}": v for k, v in got.items()}
            rows.append([f"mixed, concurrency {c}", *got.values()])
        reqs = batch_requests(users, items, key, args.batches, seed=1)
        start = time.time() + 1.0
        plans = [
            Plan(server.port, 1, part, start, start, start + 3600, limit=len(part))
            for part in (reqs[i :: args.batch_concurrency] for i in range(args.batch_concurrency))
        ]
        cpu0 = server.cpu_seconds()
        _, lat, errors, _ = run_clients(plans)
        elapsed = time.time() - start
        drained = wait_refreshed(server.port, key) - start
        metrics["batch_ingest_events_per_s"] = len(lat) * 1000 / elapsed
        metrics["batch_ingest_refreshed_events_per_s"] = len(lat) * 1000 / drained
        metrics["batch_ingest_p50_ms"] = float(np.percentile(lat * 1000, 50))
        metrics["batch_ingest_errors"] = float(errors)
        metrics["batch_ingest_server_cores"] = (server.cpu_seconds() - cpu0) / elapsed
        load_after = os.getloadavg()[0]
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)

    header = ["phase", "req/s", "p50 ms", "p99 ms", "errors", "recommend p99 ms",
              "ingest p99 ms", "server cores", "client cores"]  # fmt: skip
    body = markdown_table(header, rows)
    body += (
        f"\n\nBatch ingestion (1,000 events a request, {args.batch_concurrency} connections): "
        f"{metrics['batch_ingest_events_per_s']:,.0f} events/s acknowledged (logged and "
        f"folded into each user's state), "
        f"{metrics['batch_ingest_refreshed_events_per_s']:,.0f} events/s until every V_u was "
        f"recomputed too (from the first batch sent to an empty refresh backlog), "
        f"p50 {metrics['batch_ingest_p50_ms']:.1f} ms a batch, "
        f"{metrics['batch_ingest_errors']:.0f} errors.\n\n"
        f"Beauty: {len(users):,} users, {len(items):,} items; model {model.name}. "
        f"{args.processes} client processes per phase, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s measured; server and clients share the machine's "
        f"{os.cpu_count()} cores. 1-minute load average {load_before:.1f} before the run and "
        f"{load_after:.1f} after it (other jobs on the machine count too)."
    )
    name = "http_load" if args.members == 1 else f"http_load_members{args.members}"
    metrics["members"] = float(args.members)
    write_results(name, metrics, body, extra={"load_average": [load_before, load_after]})


if __name__ == "__main__":
    main()
