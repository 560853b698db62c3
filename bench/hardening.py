"""Hardening benchmark (the hardening issue): parts that run separately and merge into one
`bench/results/hardening.json`, each part recording its own command, commit and date.

    python bench/hardening.py --parts restart,hostile
    python bench/hardening.py --parts crash --trials 1000     # resumes where it stopped

- restart: 1,000,000 logged events (MovieLens 100K imported ten times under new user ids),
  the default model; seconds from process start to `/readyz` answering 200 after a clean
  stop (snapshot + tail), and the engine's own restore from its log line; the first start,
  with no snapshot, is reported beside it.
- hostile: deep nesting, 10 MB strings, control characters, reserved ids, NaN, too many keys
  and a wrong key, each sent 20 times with a known admin key; p99 latency, 5xx answers, and
  how often the key's secret or an erased id shows up anywhere in the server's log.
- fuzz: schemathesis over the whole API (every operation, every check, the examples, coverage,
  fuzzing and stateful phases, positive and negative data, 100 examples an operation) against
  a server started with an admin key; failures and cases (see `run_fuzz`).

- crash (bench/hardening_crash.py): SIGKILL trials across batch ingest, erasure and model
  promotion, the client resending with the same event ids; each trial is appended to
  bench/results/hardening_crash_trials.jsonl as it finishes, and a rerun resumes until
  `--trials` are recorded.
- rate (bench/hardening_rate.py): rate limits on, one client at twice the rate for
  `--rate-seconds`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import cached_model
from _report import SHARED, merge_part, write_parts
from hardening_crash import run_crash
from hardening_rate import run_rate
from http_load import ServerProc, start_server

NAME = "hardening"


# -- the server ---------------------------------------------------------------------------------


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _stop(server: ServerProc) -> None:
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=120)


def _restored_seconds(log: list[str]) -> float:
    for line in log:
        if "engine restored" in line:
            return float(json.loads(line)["seconds"])
    raise RuntimeError("no 'engine restored' line in the server log")


# -- restart ------------------------------------------------------------------------------------


def _million_events(db: Path) -> int:
    from attune.data import load
    from attune.data.vocab import Vocabulary
    from attune.stores import open_storage

    base = load(SHARED / "ml-100k")
    with open_storage(db) as store:
        for copy in range(10):
            users = Vocabulary(f"{u}-{copy}" for u in base.users.ids)
            store.import_dataset(replace(base, users=users), progress=False)
        return store.counts().events


def _timed_start(db: Path, model: Path) -> tuple[float, float, ServerProc]:
    t0 = time.perf_counter()
    server = start_server(db, model, {})
    while _get(server.port, "/readyz") != 200:
        time.sleep(0.05)
    return time.perf_counter() - t0, _restored_seconds(server.log), server


def run_restart() -> tuple[dict[str, float], list[list[Any]]]:
    model = cached_model("ml-100k", max_epochs=3, members=2)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "million.db"
        events = _million_events(db)
        cold, cold_restore, server = _timed_start(db, model)
        _stop(server)  # writes the snapshot
        warm = []
        for _ in range(3):
            seconds, restore, server = _timed_start(db, model)
            _stop(server)
            warm.append((seconds, restore))
    start_s, restore_s = (float(np.median([w[i] for w in warm])) for i in (0, 1))
    metrics = {
        "restart_1m_events_s": start_s,
        "restore_1m_events_s": restore_s,
        "first_start_1m_events_s": cold,
        "first_restore_1m_events_s": cold_restore,
        "logged_events": float(events),
    }
    rows = [
        [
            f"process start to /readyz 200, {events:,} logged events, after a clean stop "
            "(median of 3)",
            f"{start_s:.2f} s",
            "<= 8 s",
        ],
        ["the engine's own restore (snapshot + tail)", f"{restore_s:.2f} s", "<= 2 s"],
        [
            "first start, no snapshot: to /readyz / engine restore",
            f"{cold:.2f} / {cold_restore:.2f} s",
            "-",
        ],
    ]
    return metrics, rows


# -- hostile ------------------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def hostile_bodies() -> list[tuple[str, str, str, bytes]]:
    """(name, method, path, body) of each hostile request."""

    def event(**fields: str) -> bytes:
        base = {"user_id": "u1", "item_id": "50", "event_type": "click"}
        return json.dumps({**base, **fields}).encode()

    ev = '{"user_id": "u1", "item_id": "50", "event_type": "click", '
    return [
        (
            "context nested 1,000 deep",
            "POST",
            "/v1/events",
            (ev + '"context": ' + _nested(1000) + "}").encode(),
        ),
        ("array nested 100,000 deep", "POST", "/v1/events", b"[" * 100_000 + b"]" * 100_000),
        ("10 MB string", "POST", "/v1/events", event(item_id="x" * 10_000_000)),
        ("control characters in an id", "POST", "/v1/events", event(user_id="a\u0007b\u0000c")),
        ("reserved id (erasure tombstone)", "POST", "/v1/events", event(user_id="\u0000erased:1")),
        ("NaN value", "POST", "/v1/events", (ev + '"value": NaN}').encode()),
        (
            "100,000 keys in context",
            "POST",
            "/v1/events",
            (ev + '"context": {' + ", ".join(f'"k{i}": 1' for i in range(100_000)) + "}}").encode(),
        ),
        (
            "item attributes with Infinity",
            "PUT",
            "/v1/items/50",
            b'{"attributes": {"x": Infinity}}',
        ),
    ]


def _send(port: int, method: str, path: str, body: bytes, key: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers)
        status = conn.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        status = 0  # the server closed the connection (what it may do to a body it refuses)
    finally:
        conn.close()
    return status, time.perf_counter() - t0


def run_hostile(repeats: int = 20) -> tuple[dict[str, float], list[list[Any]]]:
    from attune.data import load
    from attune.server.security import ApiScope, open_key_ring
    from attune.stores import open_storage

    model = cached_model("ml-100k", max_epochs=3, members=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hostile.db"
        with open_storage(db) as store:
            store.import_dataset(load(SHARED / "ml-100k"), progress=False)
        key, _ = open_key_ring(db).create({ApiScope.ADMIN}, name="bench")
        server = start_server(db, model, {"ATTUNE_ACCESS_LOG": "true"})
        rows, latencies, errors = [], [], 0
        for name, method, path, body in hostile_bodies():
            results = [_send(server.port, method, path, body, key) for _ in range(repeats)]
            statuses = sorted({s for s, _ in results})
            seconds = [t for _, t in results]
            latencies += seconds
            errors += sum(s >= 500 for s, _ in results)
            rows.append(
                [name, ", ".join(map(str, statuses)), f"{1000 * np.percentile(seconds, 99):.1f}"]
            )
        wrong = key[:-4] + "AAAA"
        status, _ = _send(server.port, "GET", "/v1/users/1/recommendations", b"", wrong)
        rows.append(["wrong key", str(status), "-"])
        erased = "leaving-user-7"
        _send(
            server.port,
            "POST",
            "/v1/events",
            json.dumps({"user_id": erased, "item_id": "50"}).encode(),
            key,
        )
        status, _ = _send(server.port, "DELETE", f"/v1/users/{erased}", b"", key)
        rows.append(["erasure (its id must not be logged)", str(status), "-"])
        _stop(server)
        log = "".join(server.log)
    secret = key.rsplit("_", 1)[1]
    leaks = log.count(secret) + log.count(erased)
    metrics = {
        "hostile_p99_ms": float(1000 * np.percentile(latencies, 99)),
        "secret_leaks": float(leaks),
        "server_errors_5xx": float(errors),
        "hostile_requests": float(len(latencies)),
    }
    return metrics, rows


# -- fuzz ---------------------------------------------------------------------------------------

BENCH = Path(__file__).resolve().parent
FUZZ_EXAMPLES = 100
FUZZ_SEED = 18


def _schemathesis(port: int, key: str, report: Path) -> tuple[int, str]:
    """Run the schemathesis CLI over the served schema; (exit status, its output)."""
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(BENCH / "schemathesis.toml"),
        "run", f"http://127.0.0.1:{port}/openapi.json",
        "--checks", "all",
        # two checks narrowed, to what JSON Schema cannot say and to the id format (their
        # replacements in fuzz_hooks.py are among "all")
        "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--mode", "all",
        "--max-examples", str(FUZZ_EXAMPLES),
        "--seed", str(FUZZ_SEED),
        "--header", f"X-API-Key: {key}",
        # generation speed of the client, not a property of the server
        "--suppress-health-check", "too_slow",
        "--workers", "1",
        "--report", "json", "--report-json-path", str(report),
        "--no-color",
    ]  # fmt: skip
    path = os.pathsep.join([str(BENCH), *sys.path])  # the hooks, and this checkout's attune
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": path}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=BENCH, check=False)
    return done.returncode, done.stdout + done.stderr


def run_fuzz() -> tuple[dict[str, float], list[list[Any]]]:
    """Schemathesis against a server with an admin key; also counts 5xx answers and `request
    failed` lines in the server's log."""
    from attune.data import load
    from attune.server.security import ApiScope, open_key_ring
    from attune.stores import open_storage

    model = cached_model("ml-100k", max_epochs=3, members=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fuzz.db"
        with open_storage(db) as store:
            store.import_dataset(load(SHARED / "ml-100k"), progress=False)
        key, _ = open_key_ring(db).create({ApiScope.ADMIN}, name="fuzz")
        server = start_server(db, model, {})
        t0 = time.perf_counter()
        status, output = _schemathesis(server.port, key, Path(tmp) / "report.json")
        seconds = time.perf_counter() - t0
        _stop(server)
        log = "".join(server.log)
        report = json.loads((Path(tmp) / "report.json").read_text())
    print(output[-4000:])
    cases = int(report["test_cases"]["generated"])
    failures = int(report["test_cases"]["unique_failures"])
    errors = len(report["errors"])
    crashes = log.count('"request failed"')
    metrics = {
        "schemathesis_failures": float(failures + errors),
        "schemathesis_cases": float(cases),
        "schemathesis_exit_status": float(status),
        "schemathesis_operations": float(report["operations"]["tested"]),
        "fuzz_server_errors_logged": float(crashes),
        "fuzz_seconds": seconds,
    }
    rows = [
        ["cases generated (all phases, positive and negative)", f"{cases:,}", "-"],
        ["failures + errors", f"{failures} + {errors}", "0"],
        [
            "operations tested / phases",
            f"{report['operations']['tested']} / "
            + ", ".join(f"{k} {v['status']}" for k, v in report["phases"].items()),
            "-",
        ],
        ["server errors in the server's log", str(crashes), "0"],
        ["examples per operation / seed", f"{FUZZ_EXAMPLES} / {FUZZ_SEED}", ">= 100"],
        ["run time", f"{seconds / 60:.1f} min", "-"],
    ]
    return metrics, rows


# -- results ------------------------------------------------------------------------------------

PARTS: dict[str, Callable[..., tuple[dict[str, float], list[list[Any]]]]] = {
    "restart": run_restart,
    "hostile": run_hostile,
    "fuzz": run_fuzz,
    "crash": run_crash,
    "rate": run_rate,
}
HEADERS = {
    "restart": ["measure", "result", "goal"],
    "hostile": ["request (20 times each)", "statuses", "p99 ms"],
    "fuzz": ["measure", "result", "goal"],
    "crash": ["measure", "result", "goal"],
    "rate": ["measure", "result", "goal"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--parts", default="restart,hostile", help=f"comma-separated: {', '.join(PARTS)}"
    )
    parser.add_argument("--trials", type=int, default=1000, help="crash: SIGKILL trials in all")
    parser.add_argument("--rate-seconds", type=float, default=60.0, help="rate: seconds")
    args = parser.parse_args()
    os.environ.setdefault("ATTUNE_LOG_FORMAT", "json")
    options = {"crash": {"trials": args.trials}, "rate": {"seconds": args.rate_seconds}}
    for part in args.parts.split(","):
        metrics, rows = PARTS[part](**options.get(part, {}))
        write_parts(NAME, merge_part(NAME, part, metrics, rows), HEADERS)


if __name__ == "__main__":
    main()
