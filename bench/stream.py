"""Streaming (prequential) evaluation on ml-100k: what real-time state and fine-tuning are worth.

Protocol (attune.learning.stream): events sorted by time, the model trains on the first 80%,
the other 20% are replayed in order; for each event every variant first recommends 10 items
(seen items excluded) and scores a hit, then learns the event. Variants, in one run:

    static    top 200 per user computed once at the cut (popularity for users unknown then),
              seen items removed at serving time, never recomputed (a batch engine's lists)
    realtime  the engine: user state and V_u updated on every event, model frozen
    finetune  realtime + a fine-tuning round every --finetune-every events, hot-swapped in
              when it is not worse on the newest events
    rtrec     rtrec 0.2.7 SLIM with per-event partial_fit, in its own venv, same events

It also times how long a brand-new item takes to become recommendable (via its attributes),
and checks that the next fine-tune gives it a learned embedding.

    python bench/stream.py                  # everything (rtrec runs beside ours: ~15 min)
    python bench/stream.py --no-rtrec --max-events 4000   # a quick look

Writes bench/results/stream.{json,md} and stream.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import RESULTS, SHARED, markdown_table, write_results
from attune.data.events import Interaction, ItemUpdate
from attune.data.importers import load
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import ModelRegistry
from attune.learning.stream import StreamConfig, StreamReport, stream_evaluate
from attune.learning.stream_report import plot
from attune.log import configure
from attune.ranking import FilterSpec
from attune.training.config import TrainConfig, apply_overrides

RTREC_HR, RTREC_NDCG = 0.1458, 0.0747  # the reference run, for the table only
WORKDIR = Path(__file__).resolve().parent / ".cache" / "stream"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--finetune-every", type=int, default=2000)
    p.add_argument("--max-events", type=int, default=None, help="replay only this many")
    p.add_argument("--no-rtrec", action="store_true", help="skip the rtrec peer")
    p.add_argument("--reuse-model", action="store_true", help="reuse the cached cut model")
    return p.parse_args()


def run_peer(out: dict[str, Any], max_events: int | None) -> None:
    from peers.rtrec_runner import run_rtrec

    try:
        out.update(run_rtrec(max_events, timeout_s=3600, threads=1))
    except Exception as err:  # reported in the table, the rest of the run stands
        out["error"] = str(err)


def new_item_check(workdir: Path) -> dict[str, float]:
    """Time until an item nobody saw before is recommendable, and whether the next fine-tune
    learns an embedding for it (on the finetune variant's final database and registry)."""
    registry = ModelRegistry(workdir / "registry")
    engine = Engine.open(workdir / "finetune.db", registry.root, EngineConfig(snapshot_every=0))
    try:
        store = engine.store
        users = store.users.ids[:120]
        t_last = max(
            e.timestamp for e in store.events.read_events(after=store.events.last_seq() - 1)
        )
        when = datetime.fromtimestamp(t_last + 60, UTC)
        item = "new-release-1998"
        spec = FilterSpec(include={"release_year": ["1998"]})
        t0 = time.perf_counter()
        engine.upsert_items(
            [ItemUpdate(item_id=item, attributes={"title": "A New Release (1998)",
                        "release_year": "1998", "class": ["Drama", "Romance"]}, created=when)]
        )  # fmt: skip
        engine.ingest([Interaction(user_id=users[0], item_id=item, event_type="rating",
                                   value=5.0, timestamp=when)])  # fmt: skip
        listed = False
        while time.perf_counter() - t0 < 5.0 and not listed:
            recs = engine.recommend(users[1], 100, filters=spec, now=t_last + 120)
            listed = item in {r.item_id for r in recs.items}
        recommendable_ms = (time.perf_counter() - t0) * 1e3 if listed else float("inf")
        # More users rate it, then the next fine-tuning round runs.
        engine.ingest(
            [
                Interaction(user_id=u, item_id=item, event_type="rating", value=4.0,
                            timestamp=datetime.fromtimestamp(t_last + 120 + k, UTC))
                for k, u in enumerate(users[2:])
            ]
        )  # fmt: skip
        # The check set is the newest 100 events: the new item's ratings by 100 users.
        check = FineTuneConfig(min_events=1, max_holdout=100, threads=os.cpu_count())
        outcome = fine_tune(store, registry, check)
        learned = 0.0
        if outcome.version is not None:
            learned = float(item in registry.load_members(outcome.version)[0].items)
        current = registry.current()
        served = float(current is not None and item in registry.load_members(current)[0].items)
        return {
            "new_item_recommendable_ms": recommendable_ms,
            "new_item_learned_after_finetune": learned,
            "new_item_finetune_published": float(outcome.status == "published"),
            "new_item_learned_in_current_version": served,
        }
    finally:
        engine.close()


def main() -> None:
    args = parse_args()
    configure("warning")
    dataset = load(args.data_root / args.dataset)
    peer: dict[str, Any] = {}
    thread = None
    if not args.no_rtrec:
        thread = threading.Thread(target=run_peer, args=(peer, args.max_events), daemon=True)
        thread.start()
    model = WORKDIR / "model" if args.reuse_model and (WORKDIR / "model").is_dir() else None
    if model is not None:
        keep = WORKDIR.parent / "stream-model"
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(model, keep)
        model = keep
    # One model, as in the committed results: a pair doubles every fine-tune on this stream.
    train_config = apply_overrides(TrainConfig(), ["train.progress=false", "model.members=1"])
    config = StreamConfig(finetune_every=args.finetune_every, max_events=args.max_events)
    t0 = time.perf_counter()
    report = stream_evaluate(
        dataset, WORKDIR, config, train_config, progress=lambda s: print(s, flush=True), model=model
    )
    ours_seconds = time.perf_counter() - t0
    metrics = report.metrics(10)
    metrics.update(new_item_check(WORKDIR))
    if thread is not None:
        print("waiting for the rtrec peer ...", flush=True)
        thread.join()
        if "error" not in peer:
            metrics["rtrec/hr@10"] = peer["hr@10"]
            metrics["rtrec/ndcg@10"] = peer["ndcg@10"]
            metrics["rtrec/replay_events_per_s"] = peer["events"] / peer["seconds"]
    write(report, metrics, peer, ours_seconds, args)


def write(
    report: StreamReport,
    metrics: dict[str, float],
    peer: dict[str, Any],
    seconds: float,
    args: argparse.Namespace,
) -> None:
    rows: list[list[Any]] = []
    for name in ("static", "realtime", "finetune", "rtrec"):
        if f"{name}/hr@10" in metrics:
            rows.append([name, metrics[f"{name}/hr@10"], metrics[f"{name}/ndcg@10"],
                         round(metrics.get(f"{name}/replay_events_per_s", 0.0))])  # fmt: skip
    realtime, static = metrics["realtime/hr@10"], metrics["static/hr@10"]
    ratios = [
        ["realtime / static HR@10", realtime / static, ">= 1.3"],
        ["finetune / realtime HR@10", metrics["finetune/hr@10"] / realtime, ">= 1.0"],
    ]
    rtrec = metrics.get("rtrec/hr@10", RTREC_HR)
    ratios += [
        ["realtime / rtrec HR@10", realtime / rtrec, ">= 1.2"],
        ["finetune / rtrec HR@10", metrics["finetune/hr@10"] / rtrec, ">= 1.2"],
        ["fine-tuning events/s", metrics["finetune/events_per_s"], ">= 2000"],
        ["new item recommendable (ms)", metrics["new_item_recommendable_ms"], "<= 1000"],
    ]
    rounds = [
        [k + 1, o.parent, o.version, o.status, o.new_events, round(o.seconds, 2), o.reason]
        for k, o in enumerate(report.rounds)
    ]
    png = RESULTS / "stream.png"
    plot(
        report,
        png,
        1000,
        10,
        {"rtrec": metrics["rtrec/hr@10"]} if "rtrec/hr@10" in metrics else None,
    )
    body = (
        f"{report.dataset}: trained on the first {report.train_events} events (by time), "
        f"replayed {report.test_events}; fine-tuning every {args.finetune_every} events. "
        "Every variant recommends before it learns each event; seen items excluded.\n\n"
        + markdown_table(["variant", "HR@10", "NDCG@10", "events/s"], rows)
        + "\n\n"
        + markdown_table(["check", "value", "target"], ratios)
        + "\n\nFine-tuning rounds:\n\n"
        + markdown_table(["round", "parent", "version", "status", "new events", "s", "why"], rounds)
        + f"\n\nNew item: learned embedding after the next fine-tune: "
        f"{bool(metrics['new_item_learned_after_finetune'])} (that round "
        f"{'published' if metrics['new_item_finetune_published'] else 'was rejected'}; "
        f"the current version has it: {bool(metrics['new_item_learned_in_current_version'])}).\n"
        + (f"\nrtrec peer failed: {peer['error']}\n" if "error" in peer else "")
        + f"\nWall time of our variants: {seconds:.0f} s (training the cut model "
        f"{report.train_seconds:.0f} s). Over-time plot: stream.png.\n"
    )
    write_results("stream", metrics, body, extra={"plot": "stream.png"})


if __name__ == "__main__":
    main()
