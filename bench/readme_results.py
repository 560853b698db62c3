"""Rewrite the README's quality results table from bench/results/quality.json.

    python bench/readme_results.py            # rewrites README.md between its table markers
    python bench/readme_results.py --print    # prints the table only

One row per table of `bench/quality.py` (a dataset, and Beauty, Sports and LastFM again without
item attributes), with a column saying whether Attune's row read item attributes (the
baselines and the published models never do). A result not in quality.json yet reads
"not run yet".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import NOT_RUN, published_models, reads_attributes
from _quality_runs import parse_table
from _report import RESULTS, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- results table: python bench/readme_results.py -->"
END = "<!-- end of results table -->"
ROWS = (
    ("Beauty", "beauty"),
    ("Beauty", "beauty-noattr"),
    ("Sports", "sports"),
    ("Sports", "sports-noattr"),
    ("LastFM", "lastfm"),
    ("LastFM", "lastfm-noattr"),
    ("ml-100k", "ml-100k"),
    ("Scientific (never tuned on)", "scientific"),
)
BASELINES = {"popular": "Popular", "itemknn": "item-kNN", "ials": "iALS", "bpr": "BPR"}
HEADER = [
    "dataset",
    "item attributes",
    "Attune HR@10 / NDCG@10",
    "one model",
    "best baseline",
    "best published (no attributes)",
]


def _pair(metrics: Mapping[str, float], prefix: str) -> str:
    hr, ndcg = metrics.get(f"{prefix}/hr@10"), metrics.get(f"{prefix}/ndcg@10")
    if hr is None or ndcg is None:
        return NOT_RUN
    return f"{hr:.4f} / {ndcg:.4f}"


def _best_baseline(metrics: Mapping[str, float], dataset: str) -> str:
    """The baseline with the highest test NDCG@10 on `dataset` (they read no attributes, so
    a variant shows its dataset's)."""
    ran = [m for m in BASELINES if f"{dataset}/{m}/ndcg@10" in metrics]
    if not ran:
        return NOT_RUN
    best = max(ran, key=lambda m: metrics[f"{dataset}/{m}/ndcg@10"])
    return f"{BASELINES[best]} {_pair(metrics, f'{dataset}/{best}')}"


def _best_published(dataset: str) -> str:
    rows = published_models(dataset)
    if not rows:
        return "—"
    name, hr, ndcg, _ = max(rows, key=lambda row: row[2])
    return f"{name} {hr:.4f} / {ndcg:.4f}"


def results_table(metrics: Mapping[str, float]) -> str:
    """The README's results table from quality.json's metrics."""
    rows = []
    for label, table in ROWS:
        dataset = parse_table(table)[0]
        rows.append(
            [
                label,
                reads_attributes(metrics, table),
                _pair(metrics, f"{table}/attune"),
                _pair(metrics, f"{table}/attune1"),
                _best_baseline(metrics, dataset),
                _best_published(dataset),
            ]
        )
    return markdown_table(HEADER, rows)


def rewrite(readme: str, table: str) -> str:
    """`readme` with the text between its table markers replaced by `table`."""
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README has no results table markers ({BEGIN} ... {END})")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--print", action="store_true", help="print the table, change nothing")
    args = parser.parse_args()
    table = results_table(json.loads(args.results.read_text())["metrics"])
    if args.print:
        print(table)
        return
    args.readme.write_text(rewrite(args.readme.read_text(), table))


if __name__ == "__main__":
    main()
