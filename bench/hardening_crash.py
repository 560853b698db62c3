"""The crash part of bench/hardening.py: SIGKILL at random moments of batch ingest, erasure
and model promotion, then a restart, the client's retries, and a check of what survived.

One database (ML-100K plus what the trials add; the trials erase their users again, so it
stays small) and one model registry (two versions of the same checkpoint) are reused by every
trial, under bench/.cache/hardening_crash/. A trial:

1. on the running server, a client sends batches of events with event ids to the trial's
   users, erases users whose batches were all acknowledged (and the previous trial's), and
   records what was acknowledged; a second process promotes model versions 1 and 2 in turn
   (the server follows the registry and swaps);
2. after a random delay, the server and the promoting process are killed with SIGKILL;
3. the database's `PRAGMA integrity_check` and the registry's pointer are checked, the server
   is started again (it serves the next trial too), and the client resends every request
   that got no answer, with the same event ids;
4. every acknowledged event must be in the log exactly once (counted by a mark in its
   context, not by its event id, so a repeat stored under any id would count twice), every
   acknowledged erasure must have left nothing: no user row, no event, no byte in the files.

Each finished trial is appended to bench/results/hardening_crash_trials.jsonl; a rerun adds
trials until the file holds the number asked for, so the part resumes where it stopped.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _models import CACHE, cached_model
from _report import RESULTS, SHARED, commit, now
from http_load import ServerProc, start_server

TRIALS_FILE = RESULTS / "hardening_crash_trials.jsonl"
STATE = CACHE / "hardening_crash"
USERS_PER_TRIAL = 8
BATCH = 25
KILL_AFTER_S = (0.05, 1.5)
"""The kill comes at a uniformly random moment of this span after the workload starts."""
SERVER_ENV = {
    "ATTUNE_MODEL_POLL_S": "0.1",
    "ATTUNE_LOG_FORMAT": "json",
    "ATTUNE_ENGINE__ERASURE_REBUILD_S": "0.5",
}
"""The rebuild that removes erased rows' leftovers from pages runs 0.5 s after an erasure here
(10 s by default), so that the check after the restart can wait for it."""


# -- the fixed parts: database, registry, key ------------------------------------------------


def _prepared() -> tuple[Path, Path]:
    """The database and the registry every trial reuses, made on first use in a process of
    its own: training starts torch's threads, and a process that ran them cannot fork the
    promoters safely (the first 314 recorded trials, prepared in-process, had none)."""
    db, registry = STATE / "crash.db", STATE / "registry"
    if not (STATE / "ready").exists():  # a first run, or one stopped while preparing
        maker = multiprocessing.get_context("spawn").Process(target=_prepare, args=(STATE,))
        maker.start()
        maker.join()
        if maker.exitcode != 0:
            raise RuntimeError("preparing the crash benchmark's database failed")
    return db, registry


def _prepare(state: Path) -> None:
    from attune.data import load
    from attune.learning.registry import DataWindow, ModelRegistry
    from attune.stores import open_storage

    db, registry = state / "crash.db", state / "registry"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True, exist_ok=True)
    with open_storage(db) as store:
        store.import_dataset(load(SHARED / "ml-100k"), progress=False)
    model = cached_model("ml-100k", max_epochs=3, members=1)
    window = DataWindow(first_seq=0, last_seq=0, events=0)
    reg = ModelRegistry.create(registry, model, window)
    info = reg.info(1)
    reg.add(
        model,
        parent=1,
        status="published",
        data_window=window,
        metrics=info.metrics,
        note="the same checkpoint again",
        copy=True,
    )
    (state / "ready").write_text("ok\n")


def _admin_key(db: Path) -> str:
    from attune.server.security import ApiScope, open_key_ring

    key, _ = open_key_ring(db).create({ApiScope.ADMIN}, name="crash bench")
    return key


# -- the client ------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str  # "ingest" or "erasure"
    user: str
    events: list[dict[str, Any]] = field(default_factory=list)
    acked: bool = False
    answer: dict[str, Any] | None = None


class Client:
    """One keep-alive connection; `send` returns the JSON answer, None when the connection
    failed (the server is gone: the request's outcome is unknown)."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, req: Request) -> dict[str, Any] | None:
        headers = {"X-API-Key": self.key}
        try:
            if req.kind == "ingest":
                body = json.dumps(req.events).encode()
                headers["Content-Type"] = "application/json"
                self.conn.request("POST", "/v1/events", body=body, headers=headers)
            else:
                self.conn.request(
                    "DELETE", "/v1/users/" + quote(req.user, safe=""), headers=headers
                )
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return None
        if response.status == 404 and req.kind == "erasure":
            return {"events": 0, "already_gone": True}  # erased before its answer was lost
        if response.status != 200:
            raise RuntimeError(f"{req.kind}: {response.status} {payload[:300]!r}")
        return dict(json.loads(payload))

    def close(self) -> None:
        self.conn.close()


@dataclass
class Trial:
    """What one trial's client sent, and which of it was acknowledged."""

    number: int
    run: str
    leftovers: list[str]
    rng: random.Random
    requests: list[Request] = field(default_factory=list)
    in_flight: str = "idle"
    stop: threading.Event = field(default_factory=threading.Event)

    def users(self) -> list[str]:
        return [f"crash-{self.run}-{self.number}-{u}" for u in range(USERS_PER_TRIAL)]

    def workload(self, client: Client) -> None:
        """Batches and erasures until the connection fails (the kill)."""
        live, batches = self.users(), Counter[str]()
        n = 0
        while not self.stop.is_set() and live:
            req = self._next(live, batches, n)
            n += 1
            self.requests.append(req)
            self.in_flight = req.kind
            answer = client.send(req)
            if answer is None:
                return
            self.in_flight = "idle"
            req.acked, req.answer = True, answer
            if req.kind == "ingest":
                batches[req.user] += 1

    def _next(self, live: list[str], batches: Counter[str], n: int) -> Request:
        rng = self.rng
        if self.leftovers and rng.random() < 0.2:
            return Request("erasure", self.leftovers.pop())
        ripe = [u for u in live if batches[u] >= 2]
        if ripe and rng.random() < 0.1:
            user = rng.choice(ripe)
            live.remove(user)
            return Request("erasure", user)
        user = rng.choice(live)
        events = [
            {
                "user_id": user,
                "item_id": str(rng.randint(1, 1682)),
                "event_type": "click",
                "event_id": f"b{n}-{j}",
                "context": {"mark": f"{self.run}-{self.number}-{n}-{j}"},
            }
            for j in range(BATCH)
        ]
        return Request("ingest", user, events)


# -- promotion, kill, restart ----------------------------------------------------------------


def _promoter(registry: Path, seed: int) -> int:
    """A forked process promoting versions 1 and 2 in turn, at random moments, until killed.
    (A fork is quick to start; this process has not run torch, whose threads a fork would
    not carry: see `_prepared`.)"""
    pid = os.fork()
    if pid:
        return pid
    try:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)  # its log lines are not the benchmark's output
        from attune.learning.registry import ModelRegistry

        reg, rng = ModelRegistry(registry), random.Random(seed)
        while True:
            time.sleep(rng.uniform(0.0, 0.3))
            reg.promote(2 if reg.current() == 1 else 1)
    finally:
        os._exit(1)


def _ready(port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    raise RuntimeError("the server did not become ready")


def _serve(db: Path, registry: Path) -> tuple[ServerProc, float]:
    start = time.perf_counter()
    server = start_server(db, registry, SERVER_ENV)
    _ready(server.port)
    return server, time.perf_counter() - start


def _restore_s(server: ServerProc) -> float:
    """The engine's own restore time, from its log line."""
    for line in server.log:
        if "engine restored" in line:
            return float(json.loads(line)["seconds"])
    return -1.0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _crash_checks(db: Path, registry: Path) -> list[str]:
    """What is wrong with the files a crash left (before anything opens them again)."""
    from attune.learning.registry import ModelRegistry, RegistryError

    problems = []
    conn = sqlite3.connect(db)
    try:
        verdict = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            problems.append(f"integrity_check: {verdict[:3]}")
    finally:
        conn.close()
    try:
        reg = ModelRegistry(registry)
        current = reg.current()
        if current is None or current not in {v.version for v in reg.versions()}:
            problems.append(f"model pointer names no version: {current}")
    except RegistryError as err:
        problems.append(f"model pointer unreadable: {err}")
    return problems


def _history(registry: Path) -> list[int]:
    from attune.learning.registry import ModelRegistry

    return ModelRegistry(registry).history()


def _serving_current(port: int, key: str, registry: Path) -> str | None:
    """None when the restarted server serves the version the pointer names."""
    from attune.learning.registry import ModelRegistry

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/v1/models", headers={"X-API-Key": key})
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    current = ModelRegistry(registry).current()
    if answer.get("serving") != current:
        return f"serving {answer.get('serving')}, the pointer names {current}"
    return None


# -- checks after the restart ----------------------------------------------------------------


def _retry(trial: Trial, client: Client) -> tuple[int, int]:
    """Resend every request that got no answer, with the same body; (requests, duplicates)."""
    resent = duplicates = 0
    for req in trial.requests:
        if req.acked:
            continue
        answer = client.send(req)
        if answer is None:
            raise RuntimeError("the restarted server dropped a retried request")
        req.acked, req.answer = True, answer
        resent += 1
        duplicates += int(answer.get("duplicates", 0))
    return resent, duplicates


def _logged_marks(db: Path, prefixes: list[str]) -> Counter[str]:
    """How often each context mark starting with one of `prefixes` is in the log (under any
    user: an erased user's events would no longer be linked to the id)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    counts: Counter[str] = Counter()
    try:
        for prefix in prefixes:
            pattern = '%"mark": "' + prefix + "%"
            for (context,) in conn.execute(
                "SELECT context FROM events WHERE context LIKE ?", (pattern,)
            ):
                counts[json.loads(context)["mark"]] += 1
    finally:
        conn.close()
    return counts


def _user_rows(db: Path, users: list[str]) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(users))
        return [
            r[0] for r in conn.execute(f"SELECT ext_id FROM users WHERE ext_id IN ({marks})", users)
        ]
    finally:
        conn.close()


def _files_holding(db: Path, ids: list[str], wait_s: float = 5.0) -> list[str]:
    """`file: id` for each id a file of the database still holds (after waiting up to
    `wait_s` for a WAL cleared in the background)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [
            f"{path.name}: {i}"
            for path in sorted(db.parent.glob(db.name + "*"))
            if path.is_file()
            for data in [path.read_bytes()]
            for i in ids
            if i.encode() in data
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _verify(trial: Trial, db: Path, erased_marks: dict[str, list[str]]) -> dict[str, Any]:
    """Acknowledged events present once each; acknowledged erasures complete."""
    erased = {r.user for r in trial.requests if r.kind == "erasure" and r.acked}
    expected: dict[str, int] = {}
    for req in trial.requests:
        if req.kind == "ingest" and req.acked:
            for e in req.events:
                expected[e["context"]["mark"]] = 0 if req.user in erased else 1
    for user, marks in erased_marks.items():
        if user in erased:
            expected.update(dict.fromkeys(marks, 0))
    earlier = {m.rsplit("-", 2)[0] + "-" for marks in erased_marks.values() for m in marks}
    prefixes = [f"{trial.run}-{trial.number}-", *sorted(earlier)]
    logged = _logged_marks(db, prefixes)
    lost = sum(1 for m, want in expected.items() if want == 1 and logged[m] == 0)
    duplicated = sum(max(0, logged[m] - 1) for m, want in expected.items() if want == 1)
    lingering = sum(logged[m] for m, want in expected.items() if want == 0)
    gone = sorted(erased)
    rows, files = (_user_rows(db, gone), _files_holding(db, gone)) if gone else ([], [])
    traces = [f"{n} events of erased users"] if (n := lingering) else []
    traces += [f"user row: {u}" for u in rows] + files
    return {
        "acked_events": sum(len(r.events) for r in trial.requests if r.kind == "ingest"),
        "lost_events": lost,
        "duplicated_events": duplicated,
        "erasures_acked": len(erased),
        "erasure_failures": lingering + len(rows) + len(files),
        "erasure_traces": traces,
    }


# -- trials ----------------------------------------------------------------------------------


@dataclass
class Rig:
    """The reused database, registry and key, and the server now running over them."""

    db: Path
    registry: Path
    key: str
    server: ServerProc
    run: str = field(default_factory=lambda: secrets.token_hex(3))
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    """Users the last trial left (to erase in the next), with their events' marks."""


def trial(rig: Rig, number: int, rng: random.Random) -> dict[str, Any]:
    """One kill and recovery; the trial's record."""
    started = time.perf_counter()
    t = Trial(number, rig.run, list(rig.leftovers), rng)
    erased_marks, rig.leftovers = rig.leftovers, {}
    client = Client(rig.server.port, rig.key)
    promoted = len(_history(rig.registry))
    promoter = _promoter(rig.registry, rng.randrange(2**31))
    worker = threading.Thread(target=t.workload, args=(client,), daemon=True)
    kill_after = rng.uniform(*KILL_AFTER_S)
    worker.start()
    time.sleep(kill_after)
    in_flight = t.in_flight
    rig.server.proc.send_signal(signal.SIGKILL)  # the server first: mid-request
    _kill(promoter)
    rig.server.proc.wait()
    worker.join(60)
    t.stop.set()
    client.close()
    problems = _crash_checks(rig.db, rig.registry)
    promoted = len(_history(rig.registry)) - promoted if not problems else -1
    rig.server, restart_s = _serve(rig.db, rig.registry)
    if (serving := _serving_current(rig.server.port, rig.key, rig.registry)) is not None:
        problems.append(serving)
    client = Client(rig.server.port, rig.key)
    resent, repeats = _retry(t, client)
    client.close()
    counts = _verify(t, rig.db, erased_marks)
    erased = {r.user for r in t.requests if r.kind == "erasure"}
    for user in t.leftovers:  # not reached this time: the next trial erases them
        rig.leftovers[user] = erased_marks[user]
    for req in t.requests:  # the survivors, for the next trial to erase
        if req.kind == "ingest" and req.user not in erased:
            marks = [e["context"]["mark"] for e in req.events]
            rig.leftovers.setdefault(req.user, []).extend(marks)
    return {
        "trial": number,
        "run": rig.run,
        "commit": commit(),
        "date": now(),
        "kill_after_s": round(kill_after, 3),
        "in_flight": in_flight,
        "requests": len(t.requests),
        "promotions": promoted,
        "resent_requests": resent,
        "resent_duplicates": repeats,
        **counts,
        "integrity_failures": len(problems),
        "problems": problems,
        "restart_s": round(restart_s, 3),
        "restore_s": round(_restore_s(rig.server), 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _recorded() -> list[dict[str, Any]]:
    if not TRIALS_FILE.exists():
        return []
    return [json.loads(line) for line in TRIALS_FILE.read_text().splitlines() if line.strip()]


def run_crash(trials: int) -> tuple[dict[str, float], list[list[Any]]]:
    """Run trials until `TRIALS_FILE` holds `trials` of them; results over all recorded."""
    done = len(_recorded())
    if done < trials:
        db, registry = _prepared()
        key = _admin_key(db)
        server, _ = _serve(db, registry)
        server.proc.send_signal(signal.SIGTERM)  # a clean stop writes the state snapshot,
        server.proc.wait(120)  # so that a restart replays only the log's tail
        server, _ = _serve(db, registry)
        rig = Rig(db, registry, key, server)
        rng = random.Random(secrets.randbits(32))
        TRIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            for number in range(done, trials):
                record = trial(rig, number, rng)
                with TRIALS_FILE.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(
                    f"trial {number}: {record['acked_events']} acked, lost "
                    f"{record['lost_events']}, duplicated {record['duplicated_events']}, "
                    f"problems {record['problems']}, {record['seconds']:.1f} s",
                    flush=True,
                )
        finally:
            rig.server.proc.send_signal(signal.SIGTERM)
            rig.server.proc.wait(120)
    return _summary(_recorded())


def _summary(records: list[dict[str, Any]]) -> tuple[dict[str, float], list[list[Any]]]:
    total = {
        k: float(sum(r[k] for r in records))
        for k in (
            "acked_events",
            "lost_events",
            "duplicated_events",
            "integrity_failures",
            "erasure_failures",
            "erasures_acked",
            "resent_requests",
            "resent_duplicates",
        )
    }
    kinds = Counter(r["in_flight"] for r in records)
    seconds = sorted(r["seconds"] for r in records)
    metrics = {"trials": float(len(records)), **total}
    metrics["seconds_per_trial"] = float(seconds[len(seconds) // 2]) if seconds else 0.0
    in_flight = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    promotions = sum(max(0, r.get("promotions", 0)) for r in records)
    rows = [
        [f"SIGKILL trials (request in flight: {in_flight}; {promotions} promotions meanwhile)",
         f"{len(records):,}", ">= 1,000"],
        ["acknowledged events (of them resent after the restart and found already stored)",
         f"{total['acked_events']:,.0f} ({total['resent_duplicates']:,.0f})", "-"],
        ["acknowledged events lost / stored twice",
         f"{total['lost_events']:.0f} / {total['duplicated_events']:.0f}", "0 / 0"],
        ["acknowledged erasures / those leaving a trace (event, user row, bytes in a file)",
         f"{total['erasures_acked']:.0f} / {total['erasure_failures']:.0f}", "- / 0"],
        ["integrity_check failures, bad model pointers, wrong version served",
         f"{total['integrity_failures']:.0f}", "0"],
        ["seconds per trial (median)", f"{metrics['seconds_per_trial']:.1f}", "-"],
    ]  # fmt: skip
    return metrics, rows
