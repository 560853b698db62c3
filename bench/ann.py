"""ANN retrieval at catalogue scale: 1,000,000 items x 64 dims, FAISS vs exact.

Target (issue 4): recall@10 >= 0.95 against exact, with recommend p99 <= 5 ms for one query
at a time on 2 cores, the filter mask step included in the timed path.

The catalogue is a Gaussian mixture (topics of Zipf-distributed size, items scattered around
their topic), L2-normalised, like trained item embeddings; user vectors mix a few items of
one to three topics plus noise, so they are near items but never equal to one. Every timed
request runs `attune.ranking.rank` with a compiled filter (blocklist, availability windows,
a category rule, the user's seen items): the shared-rules mask (cached while availability
is unchanged), the user's exclusion list, the index's slot mask (a pass over the catalogue)
and the filtered search itself are all inside the timed path.
Recall compares that served list with the exact masked top-10. Latency is reported as
wall-clock and as the thread's CPU time: on a shared machine the wall-clock tail holds other
processes' time slices, the CPU time is this code's own cost.

`run(...)` returns the metrics, for `bench/realtime.py`; `python bench/ann.py` writes
bench/results/ann.json and .md.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, write_results
from attune.data.dataset import AttributeTable
from attune.data.vocab import Vocabulary
from attune.ranking import (
    FilterSpec,
    ItemCatalogue,
    RankContext,
    UserItems,
    compile_filter,
    rank,
)
from attune.retrieval import (
    ExactIndex,
    FaissConfig,
    FaissIndex,
    HNSWConfig,
    IVFConfig,
    SearchStats,
)

NOW = 1_750_000_000.0


def synthetic_items(n: int, dim: int, topics: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors and their topic: Zipf topic sizes, per-topic spread, normalised."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(topics, dim)).astype(np.float32)
    sizes = 1.0 / np.arange(1, topics + 1) ** 0.8
    topic = rng.choice(topics, size=n, p=sizes / sizes.sum()).astype(np.int64)
    spread = rng.uniform(0.6, 1.2, topics).astype(np.float32)  # some topics are tighter
    vecs = centers[topic] + spread[topic, None] * rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs, topic


def synthetic_users(
    items: np.ndarray, topic: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """User vectors (a mix of 3-20 items from 1-3 topics plus noise) and their seen items."""
    rng = np.random.default_rng(seed)
    by_topic = np.argsort(topic, kind="stable")
    bounds = np.searchsorted(topic[by_topic], np.arange(topic.max() + 2))
    queries, seen = [], []
    for _ in range(n):
        chosen = rng.choice(topic, size=rng.integers(1, 4))  # popular topics more likely
        hist = np.concatenate(
            [
                by_topic[rng.integers(bounds[t], bounds[t + 1], size=rng.integers(1, 8))]
                for t in chosen
            ]
        )
        v = items[hist].mean(axis=0) + rng.normal(0, 0.5 / np.sqrt(items.shape[1]), items.shape[1])
        queries.append(v / np.linalg.norm(v))
        seen.append(np.unique(hist))
    return np.asarray(queries, np.float32), seen


def synthetic_catalogue(topic: np.ndarray, seed: int) -> ItemCatalogue:
    """One category per item (10 topics each), 1% blocked, 5% with availability windows."""
    rng = np.random.default_rng(seed)
    n = len(topic)
    category = topic // 10
    n_cat = int(category.max()) + 1
    tokens = Vocabulary(f"category=c{c}" for c in range(n_cat))
    attrs = AttributeTable(tokens, np.arange(n + 1, dtype=np.int64), category.copy(), ("category",))
    cat = ItemCatalogue.open(n, attrs)
    cat.blocked[rng.random(n) < 0.01] = True
    windowed = rng.random(n) < 0.05
    cat.available_from[windowed] = NOW + rng.uniform(-30, 30, windowed.sum()) * 86_400
    cat.available_until[windowed] = cat.available_from[windowed] + 14 * 86_400
    cat.touch()
    return cat


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1e3, q))


def measure(
    index: Any,
    exact: ExactIndex,
    queries: np.ndarray,
    users: list[UserItems],
    spec: FilterSpec,
    cat: ItemCatalogue,
    k: int,
    truth_cache: dict[str, np.ndarray],
) -> dict[str, float]:
    """Serve every query one at a time through `rank`; recall against exact masked top-k."""
    compiled = compile_filter(spec, cat)
    for q, u in zip(queries[:20], users[:20], strict=True):  # warm caches and code paths
        rank(q, k, RankContext(index, compiled, NOW, u))
    if isinstance(index, FaissIndex):
        index.stats = SearchStats()
    times, cpu, served = [], [], []
    for q, u in zip(queries, users, strict=True):
        ctx = RankContext(index, compiled, NOW, u)
        c0, t0 = time.thread_time(), time.perf_counter()
        out = rank(q, k, ctx)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        served.append([r.item for r in out] + [-1] * (k - len(out)))
    if "masked" not in truth_cache:
        shared = compiled.shared_mask(NOW)
        rows = []
        for start in range(0, len(queries), 64):  # batched: BLAS instead of 1000 scans
            part = slice(start, start + 64)
            excluded = [compiled.user_excluded(u) for u in users[part]]
            rows.append(exact.search(queries[part], k, allowed=shared, exclude=excluded)[0])
        truth_cache["masked"] = np.concatenate(rows)
    truth = truth_cache["masked"]
    found = np.asarray(served)
    recall = np.mean(
        [
            len(np.intersect1d(f, t[t >= 0])) / max((t >= 0).sum(), 1)
            for f, t in zip(found, truth, strict=True)
        ]
    )
    return {
        "recall_at_10": float(recall),
        "p50_ms": percentile_ms(times, 50),
        "p99_ms": percentile_ms(times, 99),
        "mean_ms": float(np.mean(times) * 1e3),
        "cpu_p50_ms": percentile_ms(cpu, 50),
        "cpu_p99_ms": percentile_ms(cpu, 99),
        "exact_answers": float(index.stats.exact_answers if isinstance(index, FaissIndex) else 0),
    }


def scenarios(topic: np.ndarray) -> dict[str, FilterSpec]:
    """Request filters on top of the always-on blocklist, availability and seen items.

    `typical` excludes a median-size category (few users live there); `include` keeps
    mid-size categories holding ~5% of items (most users' neighbourhoods lie outside);
    `adversarial` excludes the largest category, where a fifth of the users' interests lie,
    so their whole neighbourhood is filtered out.
    """
    sizes = np.bincount(topic // 10)
    by_size = np.argsort(-sizes, kind="stable")
    median = by_size[len(by_size) // 2]
    kept: list[int] = []
    for c in by_size[len(by_size) // 4 :]:  # mid-size categories until ~5% of items
        if sizes[kept].sum() >= 0.05 * len(topic):
            break
        kept.append(int(c))
    return {
        "typical": FilterSpec(exclude={"category": [f"c{median}"]}),
        "include": FilterSpec(include={"category": [f"c{c}" for c in kept]}),
        "adversarial": FilterSpec(exclude={"category": [f"c{by_size[0]}"]}),
    }


def run(
    n_items: int = 1_000_000,
    dim: int = 64,
    n_queries: int = 1000,
    k: int = 10,
    seed: int = 0,
    structures: tuple[str, ...] = ("hnsw", "ivf"),
    ef_search: tuple[int, ...] = (64, 128, 256),
    nprobe: tuple[int, ...] = (32, 48, 64),
) -> tuple[dict[str, float], list[list[Any]]]:
    """Build, sweep the search knob on the typical filter, then try the other filters.

    Returns (headline metrics, table rows).
    """
    t0 = time.perf_counter()
    vecs, topic = synthetic_items(n_items, dim, topics=max(10, n_items // 500), seed=seed)
    queries, seen = synthetic_users(vecs, topic, n_queries, seed + 1)
    cat = synthetic_catalogue(topic, seed + 2)
    users = [
        UserItems(s, np.zeros(len(s), np.int16), np.empty(0, np.int64), np.empty(0, np.int64))
        for s in seen
    ]
    specs = scenarios(topic)
    print(f"data ready in {time.perf_counter() - t0:.1f}s", flush=True)

    exact = ExactIndex(dim)
    exact.build(vecs)
    truth: dict[str, dict[str, np.ndarray]] = {name: {} for name in specs}
    rows: list[list[Any]] = []
    t = time.perf_counter()
    compile_filter(specs["typical"], cat)
    compile_ms = (time.perf_counter() - t) * 1e3

    m = measure(exact, exact, queries[:100], users[:100], specs["typical"], cat, k, {})
    rows.append(_row("exact", "-", "typical", "-", m))
    metrics: dict[str, float] = {
        "n_items": float(n_items),
        "dim": float(dim),
        "queries": float(n_queries),
        "filter_compile_ms": compile_ms,
        "exact_p50_ms": m["p50_ms"],
        "exact_p99_ms": m["p99_ms"],
        "load_average_start": os.getloadavg()[0],
    }
    meets_any = False
    for kind in structures:
        structure: Any = (
            HNSWConfig(m=32, ef_construction=80, ef_search=ef_search[0])
            if kind == "hnsw"
            else IVFConfig(nlist=4096, nprobe=nprobe[0])
        )
        index = FaissIndex(dim, FaissConfig(structure=structure, report_queries=500, seed=seed))
        index.build(vecs)
        report = index.build_report
        assert report is not None and report.recall_at_k is not None
        print(f"{kind} built in {report.build_seconds:.1f}s", flush=True)
        knob = "efSearch" if kind == "hnsw" else "nprobe"
        chosen: tuple[int, dict[str, float]] | None = None
        for value in ef_search if kind == "hnsw" else nprobe:
            _set_knob(index, kind, value)
            m = measure(index, exact, queries, users, specs["typical"], cat, k, truth["typical"])
            rows.append(_row(kind, f"{knob}={value}", "typical", report.build_seconds, m))
            print(rows[-1], flush=True)
            if chosen is None and m["recall_at_10"] >= 0.95:
                chosen = (value, m)
        metrics[f"{kind}_build_seconds"] = report.build_seconds
        metrics[f"{kind}_unfiltered_recall_at_10"] = report.recall_at_k
        if chosen is not None:
            value, m = chosen
            _set_knob(index, kind, value)
            meets = m["p99_ms"] <= 5.0
            meets_any |= meets
            metrics.update(
                {
                    f"{kind}_{knob}": float(value),
                    f"{kind}_recall_at_10": m["recall_at_10"],
                    f"{kind}_p50_ms": m["p50_ms"],
                    f"{kind}_p99_ms": m["p99_ms"],
                    f"{kind}_cpu_p99_ms": m["cpu_p99_ms"],
                    f"{kind}_meets_target": float(meets),
                    f"{kind}_meets_target_cpu_time": float(m["cpu_p99_ms"] <= 5.0),
                }
            )
            for name in ("include", "adversarial"):
                m = measure(index, exact, queries, users, specs[name], cat, k, truth[name])
                rows.append(_row(kind, f"{knob}={value}", name, "-", m))
                print(rows[-1], flush=True)
                metrics[f"{kind}_{name}_recall_at_10"] = m["recall_at_10"]
                metrics[f"{kind}_{name}_p99_ms"] = m["p99_ms"]
        del index
        gc.collect()
    metrics["meets_target"] = float(meets_any)
    metrics["load_average_end"] = os.getloadavg()[0]
    return metrics, rows


HEADER = [
    "index",
    "search",
    "filter",
    "build s",
    "exact answers",
    "recall@10",
    "p50 ms",
    "p99 ms",
    "CPU p50 ms",
    "CPU p99 ms",
]


def _row(kind: str, search: str, scenario: str, build: Any, m: dict[str, float]) -> list[Any]:
    build_s = f"{build:.0f}" if isinstance(build, float) else build
    return [
        kind,
        search,
        scenario,
        build_s,
        "all" if kind == "exact" else f"{m['exact_answers']:.0f}",
        m["recall_at_10"],
        m["p50_ms"],
        m["p99_ms"],
        m["cpu_p50_ms"],
        m["cpu_p99_ms"],
    ]


def _set_knob(index: FaissIndex, kind: str, value: int) -> None:
    if kind == "hnsw":
        index.set_search(ef_search=value)
    else:
        index.set_search(nprobe=value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--structures", default="hnsw,ivf")
    args = parser.parse_args()
    metrics, rows = run(
        args.items, n_queries=args.queries, structures=tuple(args.structures.split(","))
    )
    table = markdown_table(HEADER, rows)
    write_results("ann", metrics, table)


if __name__ == "__main__":
    main()
