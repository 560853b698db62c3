"""The quality benchmark's Markdown: per-table results, and the fair comparison of Attune with
and without item attributes beside the published rows (none of which read attributes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from _quality_runs import DEFAULT_VARIANT, parse_table, table_name
from _report import markdown_table

METRICS = ("hr@10", "ndcg@10", "mrr", "coverage@10", "popularity_ratio@10")
NOT_RUN = "not run yet"

# Full-ranking numbers on exactly these files, from ../shared/datasets/README.md:
# (model, HR@10, NDCG@10, source). None of these models reads item attributes.
PUBLISHED: dict[str, list[tuple[str, float, float, str]]] = {
    "beauty": [
        ("popularity", 0.0152, 0.0068, "S3-Rec paper"),
        ("SASRec (BCE, 1 negative)", 0.0605, 0.0318, "S3-Rec paper"),
        ("DuoRec", 0.0845, 0.0443, "cited in eSASRec"),
        ("SASRec + sampled softmax", 0.0921, 0.0531, "eSASRec"),
        ("BSARec", 0.1008, 0.0611, "BSARec log, one seed"),
    ],
    "sports": [
        ("popularity", 0.0094, 0.0053, "S3-Rec paper"),
        ("SASRec (BCE)", 0.0350, 0.0192, "S3-Rec paper"),
        ("SASRec + sampled softmax", 0.0569, 0.0314, "eSASRec"),
        ("eSASRec", 0.0560, 0.0323, "eSASRec"),
    ],
    "lastfm": [
        ("SASRec (BCE)", 0.0688, 0.0390, "S3-Rec paper"),
        ("BSARec", 0.0807, 0.0435, "BSARec log, one seed"),
    ],
}
FAIR_DATASETS = ("beauty", "sports", "lastfm")
ATTUNE_MODELS = {"attune": "Attune (default config)", "attune1": "Attune, one model"}


def published_models(dataset: str) -> list[tuple[str, float, float, str]]:
    """The published sequential models on `dataset` (the popularity rows left out)."""
    return [row for row in PUBLISHED.get(dataset, []) if row[0] != "popularity"]


def reads_attributes(metrics: Mapping[str, float], table: str, model: str = "attune") -> str:
    """ "yes" or "no": whether that Attune row read item attributes (as its runs recorded, or
    by its variant where the results predate the record)."""
    recorded = metrics.get(f"{table}/{model}/item_attributes")
    if recorded is not None:
        return "yes" if recorded else "no"
    return "yes" if parse_table(table)[1] == DEFAULT_VARIANT else "no"


def mean_sd(metrics: Mapping[str, float], key: str, spread: bool = True) -> str:
    """The mean, ± its sd over seeds where there is a spread (more than one seed)."""
    if key not in metrics:
        return NOT_RUN
    sd = metrics.get(f"{key}_std")
    return f"{metrics[key]:.4f}" + (f" ± {sd:.4f}" if spread and sd is not None else "")


def fair_table(metrics: Mapping[str, float], dataset: str) -> str:
    """Attune with and without item attributes beside the published rows of `dataset`."""
    header = ["model", "item attributes", "HR@10", "NDCG@10", "seeds"]
    rows: list[list[Any]] = []
    for model, label in ATTUNE_MODELS.items():
        for variant in ("default", "noattr"):
            table = table_name(dataset, variant)
            prefix = f"{table}/{model}"
            if model != "attune" and f"{prefix}/hr@10" not in metrics:
                continue  # the one-model rows only where they were run
            seeds = metrics.get(f"{prefix}/seeds")
            rows.append(
                [
                    f"{label}, `{table}`",
                    reads_attributes(metrics, table, model),
                    mean_sd(metrics, f"{prefix}/hr@10", (seeds or 0) > 1),
                    mean_sd(metrics, f"{prefix}/ndcg@10", (seeds or 0) > 1),
                    NOT_RUN if seeds is None else f"{seeds:.0f}",
                ]
            )
    for name, hr, ndcg, source in published_models(dataset):
        rows.append([f"*{name}* ({source})", "no", f"{hr:.4f}", f"{ndcg:.4f}", ""])
    return markdown_table(header, rows)


def fair_section(metrics: Mapping[str, float]) -> str:
    intro = (
        "## Fair comparison: with and without item attributes\n\n"
        "The published models read item ids alone; `-noattr` is Attune's default config with "
        "`model.item_attributes = false`, on the same footing. Mean ± sd over seeds."
    )
    return "\n\n".join([intro, *(f"### {d}\n\n{fair_table(metrics, d)}" for d in FAIR_DATASETS)])


def _row_cells(metrics: Mapping[str, float], key: str) -> list[str]:
    spread = metrics[f"{key}/seeds"] > 1
    cells = []
    for m in METRICS:
        value = metrics.get(f"{key}/{m}")
        if value is None:
            cells.append("")
        elif m == "popularity_ratio@10":
            cells.append(f"{value:.2f}")
        else:
            sd = f" ± {metrics[f'{key}/{m}_std']:.4f}" if spread else ""
            cells.append(f"{value:.4f}{sd}")
    return cells


def report_md(metrics: Mapping[str, float], tables: list[str], models: list[str]) -> str:
    header = ["model", "HR@10", "NDCG@10", "MRR", "coverage@10", "pop. ratio", "fit s", "eval s"]
    parts = [
        "Test targets, full ranking over all items, seen items excluded, ties pessimistic; "
        "mean ± std over seeds (popular and item-kNN are deterministic: one run, no ±). "
        "Every choice (early stopping, ensemble validation) read validation targets only; the "
        "test targets were opened once per run, after training, for the config fixed before it "
        f"(`selection_reads_test` = {metrics.get('selection_reads_test', 0):.0f}). "
        "`pop. ratio` is the mean training count of recommended items over that of a "
        "catalogue item. Published rows are from ../shared/datasets/README.md (same files, "
        "same protocol; no item attributes).",
        fair_section(metrics),
    ]
    for table in tables:
        rows: list[list[Any]] = []
        for model in models:
            key = f"{table}/{model}"
            if f"{key}/hr@10" not in metrics:
                continue
            seconds = [f"{metrics[f'{key}/{s}_seconds']:.1f}" for s in ("fit", "eval")]
            rows.append([model, *_row_cells(metrics, key), *seconds])
        dataset, variant = parse_table(table)
        if variant == DEFAULT_VARIANT:
            for name, hr, ndcg, source in PUBLISHED.get(dataset, []):
                rows.append([f"*{name}* ({source})", f"{hr:.4f}", f"{ndcg:.4f}", *[""] * 5])
        if rows:
            parts.append(f"## {table}\n\n" + markdown_table(header, rows))
    return "\n\n".join(parts)
