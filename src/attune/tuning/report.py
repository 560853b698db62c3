"""What a study leaves in its folder: the best config as TOML (`best.toml`, loadable by
`attune train --config`), a Markdown report (`report.md`) and its plots
(`optimization_history.png`, `param_importances.png`)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from attune.tuning.space import ParamSpec, set_params, with_params
from attune.tuning.study import finished_trials

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BEST_CONFIG = "best.toml"
REPORT = "report.md"
HISTORY_PLOT = "optimization_history.png"
IMPORTANCE_PLOT = "param_importances.png"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    raise TypeError(f"cannot write {value!r} as a TOML value")


def toml_text(tables: dict[str, dict[str, Any]]) -> str:
    """`[section]` tables of scalar keys as TOML (the shape of a training config)."""
    lines: list[str] = []
    for section, table in tables.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(v)}" for key, v in table.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def completed(study: optuna.Study) -> list[FrozenTrial]:
    """The study's completed trials, best first."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    return sorted(done, key=lambda t: -(t.value or 0.0))


def write_best_config(study: optuna.Study, base: dict[str, Any], out: Path) -> Path | None:
    """`out/best.toml`: the base config's tables with the best trial's parameters, or None
    when no trial completed. Validated before it is written."""
    trials = completed(study)
    if not trials:
        return None
    best = trials[0]
    tables = set_params(base, best.params)
    with_params(tables, {})  # the file must load as `attune train --config` reads it
    header = [
        f"# Best of the study in {out}: trial {best.number}, validation NDCG@10 "
        f"{best.value:.4f} ({len(trials)} trials completed).",
        f"# Trials trained model.members = {study.user_attrs.get('members', 1)}; unless set"
        " below, `attune train` trains its default ensemble.",
        f"# attune train --data SOURCE --out DIR --config {out / BEST_CONFIG}",
        "",
    ]
    path = out / BEST_CONFIG
    path.write_text("\n".join(header) + toml_text(tables))
    return path


def write_plots(study: optuna.Study, out: Path) -> list[str]:
    """The optimisation history and, with at least two completed trials, the parameter
    importances (PED-ANOVA: no extra dependency); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization import matplotlib as plots

    def save(axes: Axes, name: str) -> None:
        figure = axes.get_figure(root=True)
        if figure is not None:
            figure.savefig(out / name, dpi=110, bbox_inches="tight")
            plt.close("all")
            written.append(name)

    written: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        save(plots.plot_optimization_history(study, target_name="validation NDCG@10"), HISTORY_PLOT)
        if len(completed(study)) >= 2:
            evaluator = PedAnovaImportanceEvaluator()
            save(plots.plot_param_importances(study, evaluator=evaluator), IMPORTANCE_PLOT)
    return written


def trial_counts(study: optuna.Study) -> dict[str, int]:
    states = [t.state for t in finished_trials(study)]
    return {
        "trials": len(states),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
    }


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _trials_table(trials: list[FrozenTrial], space: list[ParamSpec]) -> list[str]:
    keys = [spec.key for spec in space]
    lines = [
        "| trial | validation NDCG@10 | epochs | " + " | ".join(f"`{k}`" for k in keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for t in trials:
        row = [str(t.number), f"{t.value:.4f}", str(t.user_attrs.get("epochs", ""))]
        row += [_cell(t.params.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def write_report(
    study: optuna.Study, base: dict[str, Any], space: list[ParamSpec], out: Path
) -> Path:
    """`out/report.md` with `best.toml` and the plots beside it."""
    best_path = write_best_config(study, base, out)
    plots = write_plots(study, out)
    counts, trials = trial_counts(study), completed(study)
    lines = [
        f"# Study `{out}`",
        "",
        f"Data: {study.user_attrs.get('dataset', '?')}. Every score is validation NDCG@10 "
        "(leave-one-out, full ranking); the test targets were withheld from every trial.",
        "",
        f"Trials: {counts['trials']} ({counts['complete']} completed, {counts['pruned']} "
        f"pruned by the median rule, {counts['failed']} failed); each trained "
        f"model.members = {study.user_attrs.get('members', 1)}.",
        "",
    ]
    if best_path is not None:
        best = trials[0]
        lines += [
            f"Best: trial {best.number}, validation NDCG@10 **{best.value:.4f}**; its config "
            f"is `{best_path.name}` (`attune train --config {best_path}`).",
            "",
        ]
    lines += ["## Search space", ""]
    lines += [f"- `{spec.key}`: {spec.describe()}" for spec in space]
    lines += ["", "## Best completed trials", "", *_trials_table(trials[:10], space), ""]
    lines += ["## Plots", ""]
    lines += [
        "The optimisation history: each completed trial's score (dots) and the best so far "
        "(line). Pruned trials have no final score and are not drawn.",
        "",
        f"![optimisation history]({HISTORY_PLOT})",
        "",
    ]
    if IMPORTANCE_PLOT in plots:
        lines += [
            "Parameter importances (PED-ANOVA over the completed trials): how much each "
            "parameter's value decides whether a trial reaches the top 10% of scores. With "
            "few trials they are rough; a parameter near 0 can keep its default.",
            "",
            f"![parameter importances]({IMPORTANCE_PLOT})",
            "",
        ]
    else:
        lines += ["Parameter importances need at least two completed trials.", ""]
    lines += [
        f"Per-trial curves and parameters: `tensorboard --logdir {out / 'tensorboard'}` "
        "(the HPARAMS tab compares trials).",
        "",
    ]
    path = out / REPORT
    path.write_text("\n".join(lines))
    return path


def best_value(study: optuna.Study) -> float:
    """The best completed trial's validation NDCG@10 (NaN when none completed)."""
    trials = completed(study)
    value = trials[0].value if trials else None
    return math.nan if value is None else float(value)


__all__ = [
    "BEST_CONFIG",
    "HISTORY_PLOT",
    "IMPORTANCE_PLOT",
    "REPORT",
    "best_value",
    "completed",
    "toml_text",
    "trial_counts",
    "write_best_config",
    "write_plots",
    "write_report",
]
