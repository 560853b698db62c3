"""The quality benchmark's run records: one JSON file per (dataset, variant, model, seed), written
as the run finishes and committed, so the full table can be built across sessions; and their
aggregation into `quality.json`'s metrics.

A table name is a dataset folder, or a folder with a variant suffix: `beauty-noattr` is Beauty
with `model.item_attributes = false`. Variants change Attune's config only; the baselines read
no attributes, so they run on the plain dataset alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_VARIANT = "default"
VARIANTS: dict[str, dict[str, Any]] = {DEFAULT_VARIANT: {}, "noattr": {"item_attributes": False}}
"""Each variant's `model.*` overrides of the default config."""


def table_name(dataset: str, variant: str) -> str:
    return dataset if variant == DEFAULT_VARIANT else f"{dataset}-{variant}"


def parse_table(name: str) -> tuple[str, str]:
    """(dataset folder, variant) of a table name such as `beauty-noattr`."""
    for variant in VARIANTS:
        if variant != DEFAULT_VARIANT and name.endswith(f"-{variant}"):
            return name.removesuffix(f"-{variant}"), variant
    return name, DEFAULT_VARIANT


@dataclass
class Run:
    """One model fitted with one seed on one dataset variant, then evaluated once on test."""

    dataset: str
    model: str
    seed: int
    metrics: dict[str, float]
    fit_seconds: float
    eval_seconds: float
    curve: list[float] = field(default_factory=list)
    """Attune only: validation NDCG@10 after each epoch."""
    best_epoch: int = 0
    seconds_to_best: float = 0.0
    """Attune only: training wall time until the kept model's best validation score (an
    ensemble: every member before the last in full, then the last one to its best)."""
    variant: str = DEFAULT_VARIANT
    selection_reads_test: int = 0
    """Reads of the test targets before the final evaluation (training, early stopping,
    ensemble validation): 0 unless something chose by the test."""
    test_reads: int = 1
    """Reads of the test targets in all: the final evaluation's one."""
    item_attributes: bool = False
    """Whether the model read item attributes (Attune with attributes in the data)."""
    config: dict[str, Any] = field(default_factory=dict)
    """The config, fixed before training, that the test figures belong to."""
    commit: str = ""
    command: str = ""
    date: str = ""

    @property
    def table(self) -> str:
        return table_name(self.dataset, self.variant)


def run_path(folder: Path, dataset: str, variant: str, model: str, seed: int) -> Path:
    return folder / f"{dataset}__{variant}__{model}__seed{seed}.json"


def save_run(run: Run, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = run_path(folder, run.dataset, run.variant, run.model, run.seed)
    path.write_text(json.dumps(asdict(run), indent=1) + "\n")
    return path


def load_runs(folder: Path) -> list[Run]:
    """Every run recorded in `folder`, in file-name order."""
    if not folder.is_dir():
        return []
    return [Run(**json.loads(p.read_text())) for p in sorted(folder.glob("*__seed*.json"))]


def summarize(runs: list[Run]) -> dict[str, float]:
    """Mean and std over seeds of every metric, keyed `{table}/{model}/{metric}`, and
    `selection_reads_test`, summed over the runs."""
    out: dict[str, float] = {}
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.table, r.model), []).append(r)
    for (table, model), group in groups.items():
        prefix = f"{table}/{model}"
        for metric in group[0].metrics:
            values = np.array([r.metrics[metric] for r in group])
            out[f"{prefix}/{metric}"] = float(values.mean())
            out[f"{prefix}/{metric}_std"] = float(values.std())
        out[f"{prefix}/fit_seconds"] = float(np.mean([r.fit_seconds for r in group]))
        out[f"{prefix}/eval_seconds"] = float(np.mean([r.eval_seconds for r in group]))
        out[f"{prefix}/seeds"] = float(len(group))
        out[f"{prefix}/seeds_std"] = 0.0
        out[f"{prefix}/selection_reads_test"] = float(sum(r.selection_reads_test for r in group))
        if model.startswith("attune"):
            out[f"{prefix}/item_attributes"] = float(all(r.item_attributes for r in group))
            out[f"{prefix}/train_seconds"] = out[f"{prefix}/fit_seconds"]
            out[f"{prefix}/best_epoch"] = float(np.mean([r.best_epoch for r in group]))
            to_best = [r.seconds_to_best for r in group]
            out[f"{prefix}/seconds_to_best"] = float(np.mean(to_best))
            out[f"{prefix}/seconds_to_best_max"] = float(np.max(to_best))
    out["selection_reads_test"] = float(sum(r.selection_reads_test for r in runs))
    return out


def mixed_configs(runs: list[Run]) -> list[str]:
    """The `{table}/{model}` groups whose seeds ran different configs (seed aside): their mean
    is not one config's figure."""
    configs: dict[str, set[str]] = {}
    for r in runs:
        fixed = {k: v for k, v in r.config.items() if k not in ("seed", "train")}
        fixed["train"] = {k: v for k, v in r.config.get("train", {}).items() if k != "seed"}
        configs.setdefault(f"{r.table}/{r.model}", set()).add(json.dumps(fixed, sort_keys=True))
    return sorted(group for group, seen in configs.items() if len(seen) > 1)


def provenance(runs: list[Run]) -> dict[str, dict[str, str]]:
    """Per `{table}/{model}`: the commands, commits and latest date of its runs."""
    out: dict[str, dict[str, str]] = {}
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(f"{r.table}/{r.model}", []).append(r)
    for group, members in groups.items():
        out[group] = {
            "command": "; ".join(dict.fromkeys(r.command for r in members)),
            "commit": ", ".join(dict.fromkeys(r.commit for r in members)),
            "date": max(r.date for r in members),
        }
    return out
