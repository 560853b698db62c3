"""rtrec 0.2.7 (SLIM) as a streaming peer: per-event recommend latency, update latency, HR/NDCG@10.

Runs INSIDE bench/peers/.venv-rtrec (see setup_rtrec.sh); the main venv drives it through
`rtrec_runner.run_rtrec`. Protocol, on a RecBole `.inter` file sorted by time:

1. fit rtrec's SLIM on the first 80% of events (`Recommender.fit`, the library's batch path);
2. for each of the next N events (or all of them with `--all`):
   time `recommend(user, top_k=10)` with rtrec's own seen-item filter, score a hit if the
   event's item is in the list (one target: HR@10, NDCG@10 = 1/log2(rank + 2)), then time
   `Recommender.partial_fit([event])`, rtrec's advertised real-time update.

Prints one JSON object on stdout; everything else (rtrec's own prints, tqdm) goes to stderr or
nowhere. The module imports neither numpy nor rtrec at the top, so its pure helpers can be unit
tested from the main venv and the BLAS thread count can be fixed before numpy loads.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

DEFAULT_DATA = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ml-100k" / "ml-100k.inter"
)
TOP_K = 10
TRAIN_FRACTION = 0.8
PROGRESS_EVERY = 1000
# Every thread pool numpy/scipy/scikit-learn may start; set before the first numpy import.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Event(NamedTuple):
    """One interaction in rtrec's own tuple order: (user, item, tstamp, rating)."""

    user: str
    item: str
    tstamp: float
    rating: float


def read_inter(path: Path) -> list[Event]:
    """Reads a RecBole atomic `.inter` file and returns its events sorted by time.

    Ids stay the file's string tokens; the sort is stable, so events sharing a timestamp keep
    their file order and every run sees the same stream.
    """
    with path.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        names = [column.split(":", 1)[0] for column in header]
        missing = {"user_id", "item_id", "timestamp"} - set(names)
        if missing:
            raise ValueError(f"{path}: header lacks {sorted(missing)}: {header}")
        u, i, t = names.index("user_id"), names.index("item_id"), names.index("timestamp")
        r = names.index("rating") if "rating" in names else None
        events = []
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < len(names):
                continue
            rating = float(fields[r]) if r is not None else 1.0
            events.append(Event(fields[u], fields[i], float(fields[t]), rating))
    events.sort(key=lambda e: e.tstamp)
    return events


def temporal_cut(events: Sequence[Event], train_fraction: float) -> int:
    """Index of the first test event: the first `train_fraction` of the stream trains."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    return int(len(events) * train_fraction)


def hit_and_ndcg(recommended: Sequence[Any], target: Any) -> tuple[float, float]:
    """HR and NDCG of one ranked list against one held-out item (ideal DCG is 1)."""
    for rank, item in enumerate(recommended):
        if item == target:
            return 1.0, 1.0 / math.log2(rank + 2)
    return 0.0, 0.0


def percentile_ms(durations_ns: Sequence[int], q: float) -> float:
    """The q-th percentile (linear interpolation, numpy's default) of durations, in ms."""
    if not durations_ns:
        raise ValueError("no durations")
    ordered = sorted(durations_ns)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    value = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
    return value / 1e6


def stream(
    events: Sequence[Event], n_events: int | None, slim_options: dict[str, Any]
) -> dict[str, Any]:
    """Fits on the head of `events`, streams the tail and returns the measured JSON object."""
    import pandas as pd
    import rtrec
    from rtrec.models import SLIM
    from rtrec.recommender import Recommender

    cut = temporal_cut(events, TRAIN_FRACTION)
    test = events[cut:] if n_events is None else events[cut : cut + n_events]
    if not test:
        raise ValueError(f"no test events after the first {cut} of {len(events)}")
    train = pd.DataFrame(events[:cut], columns=["user", "item", "tstamp", "rating"])

    recommender = Recommender(SLIM(**slim_options))
    update_ns: list[int] = []
    recommend_ns: list[int] = []
    hits = ndcg = 0.0
    # rtrec prints "Fit completed in ..." on stdout at every fit; our stdout carries only JSON.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        recommender.fit(train, parallel=False)
        fit_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for event in test:
            t0 = time.perf_counter_ns()
            recommended = recommender.recommend(event.user, top_k=TOP_K, filter_interacted=True)
            t1 = time.perf_counter_ns()
            recommender.partial_fit([tuple(event)])
            t2 = time.perf_counter_ns()
            recommend_ns.append(t1 - t0)
            update_ns.append(t2 - t1)
            hit, gain = hit_and_ndcg(recommended, event.item)
            hits += hit
            ndcg += gain
            done = len(update_ns)
            if done % PROGRESS_EVERY == 0:
                # stderr: a full --all run takes a quarter hour and should show it is alive.
                print(
                    f"rtrec_peer: {done}/{len(test)} events, "
                    f"{time.perf_counter() - started:.0f} s, hr@10 {hits / done:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
        seconds = time.perf_counter() - started

    return {
        "update_p50_ms": percentile_ms(update_ns, 50),
        "update_p99_ms": percentile_ms(update_ns, 99),
        "recommend_p50_ms": percentile_ms(recommend_ns, 50),
        "recommend_p99_ms": percentile_ms(recommend_ns, 99),
        "hr@10": hits / len(test),
        "ndcg@10": ndcg / len(test),
        "events": len(test),
        "train_events": cut,
        "seconds": seconds,
        "fit_seconds": fit_seconds,
        "rtrec_version": rtrec.__version__,
        "model": "SLIM",
        "slim_options": slim_options,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RecBole .inter file")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--events", type=int, default=2000, help="test events to stream")
    count.add_argument("--all", action="store_true", help="stream every test event")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="BLAS/OpenMP threads"
    )
    parser.add_argument(
        "--nn-feature-selection",
        type=int,
        default=None,
        help="SLIM: fit each item on its N most co-occurring items (rtrec default: all)",
    )
    parser.add_argument(
        "--decay-in-days", type=int, default=None, help="SLIM: half-life of interaction weights"
    )
    args = parser.parse_args(argv)
    if not args.all and args.events <= 0:
        parser.error("--events must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    for var in _THREAD_VARS:
        os.environ[var] = str(args.threads)
    # Only options the user set are passed, so rtrec's own defaults stay the defaults.
    slim_options: dict[str, Any] = {}
    if args.nn_feature_selection is not None:
        slim_options["nn_feature_selection"] = args.nn_feature_selection
    if args.decay_in_days is not None:
        slim_options["decay_in_days"] = args.decay_in_days
    events = read_inter(args.data)
    result = stream(events, None if args.all else args.events, slim_options)
    result["threads"] = args.threads
    result["data"] = str(args.data)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
