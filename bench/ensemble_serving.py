"""What serving an ensemble of two models costs in the real-time engine, against one model.

Same engine, data (ml-100k) and measurements as `bench/realtime.py`, run for a single model
and for a pair (`model.members=2`, both cached under bench/.cache/) in one process:
- per-event ingest + recommend latency (k=10), p50 and p99 over `--n` iterations;
- sustained ingestion with a fresh V_u after every event (batches of distinct users);
- the same per-event latency with the incremental key/value cache on.

    python bench/ensemble_serving.py

Writes bench/results/ensemble_serving.json and .md, keys `{single,pair}/ingest_recommend_p50_ms`,
`..._p99_ms`, `{single,pair}/incremental_p50_ms`, `..._p99_ms`, `{single,pair}/events_per_s`,
and `pair_over_single_p50`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import cached_model
from _report import markdown_table, write_results
from realtime import ingest_recommend, open_engine, pct, sustained


def measure(model: Path, tmp: Path, n: int, events: int, batch: int) -> dict[str, float]:
    engine = open_engine("ml-100k", model, tmp)
    ingest_recommend(engine, 200, seed=9)  # warm-up: caches, allocator
    lat = ingest_recommend(engine, n)
    rate = sustained(engine, events, batch)
    engine.close()
    engine = open_engine("ml-100k", model, tmp, incremental=True)
    ingest_recommend(engine, 200, seed=9)
    inc = ingest_recommend(engine, n, seed=3)
    engine.close()
    return {
        "ingest_recommend_p50_ms": pct(lat, 50),
        "ingest_recommend_p99_ms": pct(lat, 99),
        "incremental_p50_ms": pct(inc, 50),
        "incremental_p99_ms": pct(inc, 99),
        "events_per_s": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="ingest+recommend iterations")
    parser.add_argument("--sustained-events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    metrics: dict[str, float] = {}
    rows = []
    for name, members in (("single", 1), ("pair", 2)):
        model = cached_model("ml-100k", members=members)
        with tempfile.TemporaryDirectory() as tmp:
            got = measure(model, Path(tmp), args.n, args.sustained_events, args.batch)
        metrics.update({f"{name}/{k}": v for k, v in got.items()})
        rows.append([name, *got.values()])
    metrics["pair_over_single_p50"] = (
        metrics["pair/ingest_recommend_p50_ms"] / metrics["single/ingest_recommend_p50_ms"]
    )
    header = [
        "model",
        "ingest+recommend p50 ms",
        "p99 ms",
        "incremental p50 ms",
        "p99 ms",
        "sustained events/s",
    ]
    body = (
        "ml-100k, the engine's defaults (exact index, SQLite WAL), k=10, one process, "
        f"{args.n} iterations per latency row.\n\n" + markdown_table(header, rows)
    )
    write_results("ensemble_serving", metrics, body)


if __name__ == "__main__":
    main()
