"""Scale-out benchmark (the Redis scale-out issue): parts that run separately and merge into one
`bench/results/scale.json`, each part recording its own command, commit and date.

    python bench/scale.py --parts memory,http

- memory: a real redis-server (`appendonly yes`, `appendfsync always`) is given the Amazon
  Beauty dataset through `import_dataset`; an `Engine` with the default model shape (two
  members, trained briefly: only the size of V_u matters here) opens over it, and its restore
  folds the whole log, so that every Beauty user has the packed state the engine keeps (history
  window, seen items, V_u). Then `MEMORY USAGE <key> SAMPLES 0` of every key, grouped: the
  keys of each user's `{u:<idx>}` tag split into state (the `state` key) and event record (the
  per-event keys: the user's log positions, pending events and event ids), and the shared
  keys (the log stream and its per-event markers, the vocabularies, the catalogue, popularity).
- http: the request mix of bench/http_load.py (80% recommend, 20% single events, concurrency
  16 and 64) against one SQLite server and 1, 2 and 4 workers over one Redis, for the
  one-model and the default Beauty model, then batch ingestion on Redis until every V_u is
  recomputed (bench/scale_http.py has the details).

Only the parts listed in PARTS exist; the results file lists only the parts that were run.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import cached_model
from _redis_server import redis_server
from _report import SHARED, merge_part, write_parts
from scale_http import HTTP_HEADER, run_http

NAME = "scale"

# -- memory -------------------------------------------------------------------------------------

_USER_KEY = re.compile(r"^attune:\{u:\d+\}:(?P<part>.+)$")
_LOG_KEY = re.compile(r"^attune:\{log(?::\d+)?\}:(?P<part>.+)$")
"""The log's keys: one partition (`{log}`) or several (`{log:<p>}`)."""
_EVENT_RECORD_PARTS = {"seqs", "pending", "seen"}
"""Per-user keys that hold one entry per event: the user's log positions, its events written
but not yet in the log, and its event ids (de-duplication)."""

GROUPS = {
    "state": "user state (`{u:<idx>}:state`, and `tail`: events acknowledged, not folded yet)",
    "event_record": "user event record (`{u:<idx>}:seqs`, `pending`, `seen`)",
    "log": "log stream (`{log:<p>}:events`)",
    "log_markers": "log write markers (`{log:<p>}:done:<key>`, 1-day TTL)",
    "user_vocab": "user vocabulary (`{vocab:users}`)",
    "profiles": "user attributes (`{profiles}`)",
    "items": "items: vocabulary, catalogue, popularity",
    "other": "everything else (metadata, counters)",
}


def key_group(key: str) -> str:
    """Which of `GROUPS` a key belongs to."""
    user = _USER_KEY.match(key)
    if user:
        return "event_record" if user["part"] in _EVENT_RECORD_PARTS else "state"
    log = _LOG_KEY.match(key)
    if log and log["part"] == "events":
        return "log"
    if log and log["part"].startswith("done:"):
        return "log_markers"
    prefixes = {
        "attune:{vocab:users}": "user_vocab",
        "attune:{profiles}": "profiles",
        "attune:{vocab:items}": "items",
        "attune:{catalogue}": "items",
        "attune:{popularity}": "items",
    }
    for prefix, group in prefixes.items():
        if key.startswith(prefix):
            return group
    return "other"


def key_usage(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes (`MEMORY USAGE … SAMPLES 0`: every element counted) and keys, per group."""
    import redis

    usage: dict[str, int] = defaultdict(int)
    keys: dict[str, int] = defaultdict(int)
    with redis.Redis.from_url(url) as client:
        batch: list[str] = []

        def flush() -> None:
            pipe = client.pipeline(transaction=False)
            for k in batch:
                pipe.memory_usage(k, samples=0)
            for k, n in zip(batch, pipe.execute(), strict=True):
                usage[key_group(k)] += int(n or 0)
                keys[key_group(k)] += 1
            batch.clear()

        for raw in client.scan_iter(count=10_000):
            batch.append(raw.decode())
            if len(batch) == 10_000:
                flush()
        flush()
    return dict(usage), dict(keys)


def state_payloads(url: str, users: int) -> tuple[float, int]:
    """Mean packed state length in bytes, and how many states hold a V_u."""
    import redis

    from attune.engine.state import UserState
    from attune.stores.redis.layout import user_key

    sizes, with_vector = [], 0
    with redis.Redis.from_url(url) as client:
        for start in range(0, users, 5_000):
            pipe = client.pipeline(transaction=False)
            for u in range(start, min(users, start + 5_000)):
                pipe.get(user_key(u, "state"))
            for raw in pipe.execute():
                if raw is not None:
                    sizes.append(len(raw))
                    with_vector += UserState.unpack(raw).vector is not None
    return sum(sizes) / max(1, len(sizes)), with_vector


def dataset_on_redis(url: str, model: Path, dataset: str = "beauty") -> dict[str, float]:
    """Import `dataset`, then let an engine's restore build every user's state; counts and
    seconds."""
    from attune.data import load
    from attune.engine import Engine
    from attune.stores import open_storage

    data = load(SHARED / dataset)
    t0 = time.perf_counter()
    with open_storage(url) as store:
        store.import_dataset(data, progress=False)
        counts = store.counts()
    t1 = time.perf_counter()
    Engine.open(url, model).close()  # restore: fold the log, V_u for every user; snapshot
    return {
        "users": float(counts.users),
        "items": float(counts.items),
        "events": float(counts.events),
        "import_s": t1 - t0,
        "restore_s": time.perf_counter() - t1,
    }


def run_memory() -> tuple[dict[str, float], list[list[Any]]]:
    model = cached_model("beauty", max_epochs=3, members=2)
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        built = dataset_on_redis(url, model)
        usage, keys = key_usage(url)
        payload, with_vector = state_payloads(url, int(built["users"]))
        fsync_always = _appendfsync(url) == "always"
    users, items, events = built["users"], built["items"], built["events"]
    metrics = {
        "redis_state_bytes_per_user": usage.get("state", 0) / users,
        "redis_event_record_bytes_per_event": usage.get("event_record", 0) / events,
        "redis_log_bytes_per_event": usage.get("log", 0) / events,
        "redis_log_marker_bytes_per_event": usage.get("log_markers", 0) / events,
        "redis_user_vocab_bytes_per_user": usage.get("user_vocab", 0) / users,
        "redis_profile_bytes_per_user": usage.get("profiles", 0) / users,
        "redis_item_bytes_per_item": usage.get("items", 0) / items,
        "state_payload_bytes_per_user": payload,
        "users_with_state_and_vector": float(with_vector),
        "beauty_users": users,
        "beauty_items": items,
        "beauty_events": events,
        "import_s": built["import_s"],
        "restore_s": built["restore_s"],
        "appendfsync_always": float(fsync_always),
    }
    per = {"state": users, "event_record": events, "log": events, "log_markers": events}
    per |= {"user_vocab": users, "profiles": users, "items": items, "other": 1.0}
    unit = {"state": "user", "event_record": "event", "log": "event", "log_markers": "event"}
    unit |= {"user_vocab": "user", "profiles": "user", "items": "item", "other": "deployment"}
    rows: list[list[Any]] = [
        [label, keys.get(g, 0), usage.get(g, 0), f"{usage.get(g, 0) / per[g]:,.1f} per {unit[g]}"]
        for g, label in GROUPS.items()
    ]
    rows.append(["packed state (the value alone), mean", "-", "-", f"{payload:,.1f} per user"])
    return metrics, rows


def _appendfsync(url: str) -> str:
    import redis

    with redis.Redis.from_url(url) as client:
        return str(client.config_get("appendfsync")["appendfsync"])


# -- results ------------------------------------------------------------------------------------

PARTS: dict[str, Callable[[argparse.Namespace], tuple[dict[str, float], list[list[Any]]]]] = {
    "memory": lambda args: run_memory(),
    "http": run_http,
}
HEADERS = {
    "memory": ["keys (Beauty on one Redis)", "keys", "MEMORY USAGE bytes", "bytes"],
    "http": HTTP_HEADER,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="memory", help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--duration", type=float, default=15.0, help="http: measured s a phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="http: warm-up s a phase")
    parser.add_argument("--processes", type=int, default=2, help="http: client processes")
    parser.add_argument("--batches", type=int, default=100, help="http: 1,000-event batches")
    args = parser.parse_args()
    os.environ.setdefault("ATTUNE_LOG_FORMAT", "json")
    for part in args.parts.split(","):
        metrics, rows = PARTS[part](args)
        write_parts(NAME, merge_part(NAME, part, metrics, rows), HEADERS)


if __name__ == "__main__":
    main()
