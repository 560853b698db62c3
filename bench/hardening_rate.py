"""The rate part of bench/hardening.py: a server with rate limits on, and one client (one API
key) sending at twice the configured rate for a minute.

The server limits the `recommend` and `ingest` route classes to `RATE` requests a second
each (the bucket holds one second's worth). The client is open loop: request k is due at
`k / (4 * RATE)` seconds, alternately a recommendation (k=10, a random known user) and a
single event, spread over a few keep-alive connections; a request that finds its connection
busy goes as soon as it is free (how late is reported). Measured: answers other than 200 and
429 (goal: no 5xx), the latency of the admitted requests, and the share refused with 429
(about one half: the bucket admits `RATE` a second of the `2 * RATE` sent).
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from _models import cached_model
from _report import SHARED
from http_load import start_server

RATE = 50.0
"""Requests a second each limited route class admits per caller."""
CONNECTIONS = 8


@dataclass
class Outcomes:
    """Every answer: (route class, status, seconds, seconds late), and missing headers."""

    answers: list[tuple[str, int, float, float]] = field(default_factory=list)
    no_retry_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _request(k: int, rng: random.Random) -> tuple[str, str, str, bytes]:
    """(route class, method, path, body) of request number k."""
    user = str(rng.randint(1, 943))
    if k % 2 == 0:
        return "recommend", "GET", f"/v1/users/{user}/recommendations?k=10", b""
    event = {"user_id": user, "item_id": str(rng.randint(1, 1682)), "event_type": "click"}
    return "ingest", "POST", "/v1/events", json.dumps(event).encode()


def _sender(port: int, key: str, lane: int, start: float, end: float, out: Outcomes) -> None:
    """Send requests lane, lane + CONNECTIONS, ... each at its due time (or when free)."""
    rng = random.Random(lane)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    interval = 1.0 / (4 * RATE)
    k = lane
    while (due := start + k * interval) < end:
        time.sleep(max(0.0, due - time.perf_counter()))
        route, method, path, body = _request(k, rng)
        headers = {"X-API-Key": key}
        if body:
            headers["Content-Type"] = "application/json"
        sent = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            missing = status == 429 and response.getheader("Retry-After") is None
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, missing = 0, False
        took = time.perf_counter() - sent
        with out.lock:
            out.answers.append((route, status, took, sent - due))
            out.no_retry_after += int(missing)
        k += CONNECTIONS
    conn.close()


def _database(folder: Path) -> tuple[Path, str]:
    from attune.data import load
    from attune.server.security import ApiScope, open_key_ring
    from attune.stores import open_storage

    db = folder / "rate.db"
    with open_storage(db) as store:
        store.import_dataset(load(SHARED / "ml-100k"), progress=False)
    key, _ = open_key_ring(db).create({ApiScope.RECOMMEND, ApiScope.INGEST}, name="rate bench")
    return db, key


def run_rate(seconds: float = 60.0) -> tuple[dict[str, float], list[list[Any]]]:
    model = cached_model("ml-100k", max_epochs=3, members=1)
    env = {
        "ATTUNE_RATE_LIMITS__RECOMMEND__RATE": f"{RATE:.0f}/second",
        "ATTUNE_RATE_LIMITS__INGEST__RATE": f"{RATE:.0f}/second",
    }
    with tempfile.TemporaryDirectory() as tmp:
        db, key = _database(Path(tmp))
        server = start_server(db, model, env)
        out = Outcomes()
        start = time.perf_counter() + 0.5
        lanes = [
            threading.Thread(
                target=_sender, args=(server.port, key, lane, start, start + seconds, out)
            )
            for lane in range(CONNECTIONS)
        ]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        server.proc.terminate()
        server.proc.wait(120)
    return _summary(out, seconds)


def _summary(out: Outcomes, seconds: float) -> tuple[dict[str, float], list[list[Any]]]:
    statuses = Counter(status for _, status, _, _ in out.answers)
    admitted = [took for _, status, took, _ in out.answers if status == 200]
    late = [lateness for *_, lateness in out.answers]
    total = len(out.answers)
    by_route = {
        route: Counter(s for r, s, _, _ in out.answers if r == route)
        for route in ("recommend", "ingest")
    }
    metrics = {
        "rate_limit_5xx": float(sum(n for s, n in statuses.items() if s >= 500)),
        "admitted_p99_ms": float(1000 * np.percentile(admitted, 99)),
        "share_429": statuses[429] / total,
        "rate_requests": float(total),
        "rate_other_answers": float(total - statuses[200] - statuses[429]),
        "rate_client_late_p99_ms": float(1000 * np.percentile(late, 99)),
    }
    rows = [
        [
            f"requests sent in {seconds:.0f} s (2 x {RATE:.0f}/s per class, recommend and "
            "ingest, one key)",
            f"{total:,} ({total / seconds:.0f}/s)",
            f"{4 * RATE * seconds:,.0f}",
        ],
        *[
            [
                f"{route}: admitted (200) / refused (429)",
                f"{c[200]:,} / {c[429]:,}",
                f"about {RATE * seconds:,.0f} / {RATE * seconds:,.0f}",
            ]
            for route, c in by_route.items()
        ],
        ["share answered 429", f"{metrics['share_429']:.3f}", "about 0.5"],
        ["5xx answers", f"{metrics['rate_limit_5xx']:.0f}", "0"],
        [
            "other answers (neither 200 nor 429; 0 = connection failed)",
            ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()) if s not in (200, 429))
            or "none",
            "none",
        ],
        ["429 answers without Retry-After", str(out.no_retry_after), "0"],
        [
            "admitted requests: p50 / p99 latency",
            _ms(admitted, 50) + " / " + _ms(admitted, 99),
            "-",
        ],
        ["client lateness (sent after the due time): p99", _ms(late, 99), "small"],
    ]
    return metrics, rows


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * np.percentile(values, q):.1f} ms"
