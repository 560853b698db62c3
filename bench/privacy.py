"""Privacy benchmark (the privacy issue): parts that run separately and merge into one
`bench/results/privacy.json`, each part recording its own command, commit and date.

    python bench/privacy.py --parts erasure
    python bench/privacy.py --parts erasure --backends sqlite --events 100000 --users 10000

- erasure: a store holding `--events` logged events (default 1,000,000) of `--users` users
  (default 100,000), bulk imported; `--erasures` users (default 200, drawn at random) erased
  one after another, `--rate` a second (default 4), through the storage port (the call
  `DELETE /v1/users/{id}` makes of the store), timed each. SQLite runs as a server opens it
  (erasures rebuild the file `erasure_rebuild_s` = 10 s after the first, in the maintenance
  thread, and an erasure that meets a rebuild waits for it); Redis on a local redis-server
  with the append-only file fsynced every second. `erasure_p99_ms` is the worst backend's
  p99 (goal: at most 1000).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _redis_server import redis_server
from _report import merge_part, write_parts
from attune.data.dataset import Dataset, Interactions
from attune.data.events import EventTypes
from attune.data.vocab import Vocabulary
from attune.ports import Storage
from attune.stores import open_storage

NAME = "privacy"
HEADERS = {"erasure": ["backend", "events", "users", "erasures", "p50 ms", "p99 ms", "max ms"]}
ENGINE_REBUILD_S = 10.0
"""The engine's default `erasure_rebuild_s` (what a server opens SQLite with)."""


def synthetic_log(n_events: int, n_users: int, n_items: int = 20_000, seed: int = 0) -> Dataset:
    """`n_events` views of `n_users` users over `n_items` items (Zipf-like item popularity),
    time-ordered: a log of the size asked for, built in memory for a bulk import."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_events)
    weights = 1.0 / np.arange(1, n_items + 1)
    items = rng.choice(n_items, n_events, p=weights / weights.sum())
    times = 1.6e9 + np.sort(rng.uniform(0, 90 * 86400, n_events))
    return Dataset(
        name="privacy-synthetic",
        interactions=Interactions(
            users=users.astype(np.int64),
            items=items.astype(np.int64),
            timestamps=times,
            event_types=np.zeros(n_events, np.int16),
            values=np.full(n_events, np.nan, np.float32),
        ),
        users=Vocabulary(f"user-{u}" for u in range(n_users)),
        items=Vocabulary(f"item-{i}" for i in range(n_items)),
        event_types=EventTypes(),
    )


def time_erasures(
    store: Storage, n_users: int, n_erasures: int, rate: float, seed: int = 1
) -> np.ndarray:
    """Milliseconds of each of `n_erasures` erasures of distinct random users, started
    `rate` a second (paced, so that on SQLite they span several deferred file rebuilds and
    some meet one, as erasures arriving over time do)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(n_users, n_erasures, replace=False)
    ms = np.empty(n_erasures)
    start = time.perf_counter()
    for k, u in enumerate(chosen):
        time.sleep(max(0.0, start + k / rate - time.perf_counter()))
        t0 = time.perf_counter()
        store.erase_user(f"user-{u}")
        ms[k] = (time.perf_counter() - t0) * 1000
    return ms


def _measure(url: str, data: Dataset, n_users: int, n_erasures: int, rate: float) -> np.ndarray:
    """Import `data` into the store at `url`, then time the erasures."""
    t0 = time.perf_counter()
    with open_storage(url, erasure_rebuild_s=ENGINE_REBUILD_S) as store:
        store.import_dataset(data, progress=False)
        print(f"{store.url.split(':')[0]}: imported in {time.perf_counter() - t0:.1f} s")
        store.start_maintenance()
        return time_erasures(store, n_users, n_erasures, rate)


def erasure(
    events: int, users: int, erasures: int, rate: float, backends: list[str]
) -> tuple[dict, list]:
    data = synthetic_log(events, users)
    metrics: dict[str, float] = {}
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="attune-privacy-") as tmp:
        for backend in backends:
            if backend == "sqlite":
                ms = _measure(str(Path(tmp) / "erasure.db"), data, users, erasures, rate)
            else:
                with redis_server(Path(tmp) / "redis", appendfsync="everysec") as url:
                    ms = _measure(url, data, users, erasures, rate)
            p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
            metrics[f"{backend}/erasure_p50_ms"] = float(p50)
            metrics[f"{backend}/erasure_p99_ms"] = float(p99)
            row = [backend, events, users, erasures, f"{p50:.1f}", f"{p99:.1f}", f"{ms.max():.1f}"]
            rows.append(row)
    metrics["erasure_p99_ms"] = max(v for k, v in metrics.items() if k.endswith("/erasure_p99_ms"))
    return metrics, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="erasure", help="comma-separated: erasure")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--erasures", type=int, default=200)
    parser.add_argument("--rate", type=float, default=4.0, help="erasures started a second")
    parser.add_argument("--backends", default="sqlite,redis", help="sqlite,redis")
    args = parser.parse_args()
    for part in args.parts.split(","):
        if part != "erasure":
            raise SystemExit(f"unknown part {part!r}: erasure")
        backends = args.backends.split(",")
        metrics, rows = erasure(args.events, args.users, args.erasures, args.rate, backends)
        write_parts(NAME, merge_part(NAME, part, metrics, rows), HEADERS)


if __name__ == "__main__":
    main()
