"""Bulk import speed of the embedded store: 1,000,000 interactions from a CSV file.

Target (issue 2): under 30 s on 2 cores, parse + validate + write, durable at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, write_results
from attune.data import load_with_report
from attune.data.importers import ColumnMapping
from attune.stores import open_storage


def write_csv(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n // 20, n)
    items = rng.zipf(1.3, n) % 50_000
    ts = 1_700_000_000 + np.sort(rng.integers(0, 86400 * 90, n))
    kinds = np.array(["view", "click", "add_to_cart", "purchase"])[rng.integers(0, 4, n)]
    with path.open("w") as f:
        f.write("user_id,item_id,timestamp,event_type\n")
        for u, i, t, k in zip(users.tolist(), items.tolist(), ts.tolist(), kinds, strict=True):
            f.write(f"u{u},i{i},{t},{k}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "events.csv"
        write_csv(csv_path, args.rows)
        t0 = time.perf_counter()
        dataset, _report = load_with_report(
            csv_path, mapping=ColumnMapping(event_type="event_type")
        )
        t1 = time.perf_counter()
        with open_storage(Path(tmp) / "a.db") as store:
            store.import_dataset(dataset, progress=False)
            t2 = time.perf_counter()
            assert store.counts().events == args.rows
    parse_s, write_s, total_s = t1 - t0, t2 - t1, t2 - t0
    metrics = {
        "rows": args.rows,
        "parse_seconds": parse_s,
        "write_seconds": write_s,
        "total_seconds": total_s,
        "rows_per_s": args.rows / total_s,
    }
    table = markdown_table(
        ["rows", "parse + validate (s)", "write to SQLite (s)", "total (s)", "rows/s", "target"],
        [[f"{args.rows:,}", parse_s, write_s, total_s, f"{args.rows / total_s:,.0f}", "< 30 s"]],
    )
    write_results("import_speed", metrics, table)


if __name__ == "__main__":
    main()
