"""Hyper-parameter search for the interest model (`attune tune`): an Optuna study over a
search space file, pruned on per-epoch validation NDCG@10, stored in SQLite, reported as the
best config (TOML), a Markdown report with plots, and TensorBoard runs per trial."""

from attune.tuning.report import best_value, write_report
from attune.tuning.space import DEFAULT_SEARCH_SPACE, ParamSpec, load_search_space
from attune.tuning.study import TuneOptions, run_study, validation_score

__all__ = [
    "DEFAULT_SEARCH_SPACE",
    "ParamSpec",
    "TuneOptions",
    "best_value",
    "load_search_space",
    "run_study",
    "validation_score",
    "write_report",
]
