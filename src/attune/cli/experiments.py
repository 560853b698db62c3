"""`attune models ab start|stop|status` (online A/B tests of model versions) and
`attune models compare` (their arms' click-through and conversion with 95% intervals)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import fail, user_errors
from attune.cli.learn import REGISTRY, STORE, _registry, _registry_errors

if TYPE_CHECKING:
    from attune.schemas.experiments import Comparison, Difference, Experiment, Rate

ab_app = typer.Typer(
    help="Online A/B tests: split users between the current version and a challenger.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DEPLOYMENT = typer.Option(
    ...,
    "--store",
    metavar="DB|URL",
    help="The deployment's database or storage URL: its impression log is compared (and on "
    "a shared store, its pointer holds the experiment).",
)


def register(models_app: typer.Typer) -> None:
    models_app.add_typer(ab_app, name="ab")
    models_app.command("compare")(compare)


@ab_app.command("start")
def start(
    challenger: int = typer.Argument(..., metavar="VERSION", help="Registered version to test."),
    share: float = typer.Option(
        ..., "--share", metavar="SHARE", help="Share of users (0..1) served by the challenger."
    ),
    registry: Path = REGISTRY,
    store: str | None = STORE,
) -> None:
    """Serve VERSION to a stable share of users (by a hash of their id), the current version
    to the rest; every server follows within its poll interval. Replaces a running test."""
    from attune.learning.experiments import start_experiment

    if not 0.0 <= share <= 1.0:
        raise fail(f"--share must be between 0 and 1, got {share}")
    reg = _registry(registry, store)
    with _registry_errors():
        experiment = start_experiment(reg, challenger, share)
    typer.echo(f"started {describe(experiment)}")


@ab_app.command("stop")
def stop(registry: Path = REGISTRY, store: str | None = STORE) -> None:
    """Stop the running test: every user gets the current version again. Its counts stay
    comparable."""
    from attune.learning.experiments import end_experiment

    with _registry_errors():
        stopped = end_experiment(_registry(registry, store))
    typer.echo("no experiment was running" if stopped is None else f"stopped {describe(stopped)}")


@ab_app.command("status")
def status(registry: Path = REGISTRY, store: str | None = STORE) -> None:
    """The latest experiment, running or stopped."""
    from attune.learning.experiments import current_experiment

    with _registry_errors():
        experiment = current_experiment(_registry(registry, store))
    typer.echo("no experiment has run" if experiment is None else describe(experiment))


def compare(
    registry: Path = REGISTRY,
    store: str = DEPLOYMENT,
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Click-through and conversion per arm of the latest experiment, with 95% Wilson
    intervals, and the challenger's difference with its 95% interval and p-value; read from
    the impression log (a server may be running)."""
    from attune.learning.experiments import comparison
    from attune.stores import open_storage

    reg = _registry(registry, store)
    with user_errors(), _registry_errors(), open_storage(store) as deployment:
        result = comparison(reg, deployment)
    typer.echo(result.model_dump_json(indent=2) if as_json else render(result))


def describe(experiment: Experiment) -> str:
    state = "running" if experiment.stopped is None else f"stopped {experiment.stopped:%F %T}"
    return (
        f"experiment {experiment.id}: v{experiment.challenger} (challenger, "
        f"{experiment.share:.0%} of users) against v{experiment.control} (control); "
        f"started {experiment.started:%F %T}, {state}"
    )


def _rate(r: Rate) -> str:
    return f"{r.value:.2%} ({r.low:.2%} .. {r.high:.2%})"


def _difference(name: str, d: Difference) -> str:
    verdict = "significant" if d.significant else "not significant"
    return (
        f"{name} difference (challenger - control): {d.value:+.4f} "
        f"(95% CI {d.low:+.4f} .. {d.high:+.4f}), p = {d.p_value:.3g}: {verdict}"
    )


def render(result: Comparison) -> str:
    """The comparison as a table of the arms, then the two differences and the verdict."""
    rows = [["arm", "version", "lists", "items", "clicks", "ctr (95% CI)", "conversions"]]
    rows[0].append("conversion (95% CI)")
    for a in result.arms:
        counts = (a.model_version, a.lists, a.items, a.clicks)
        rows.append([a.arm, *map(str, counts), _rate(a.ctr), str(a.conversions)])
        rows[-1].append(_rate(a.conversion_rate))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    winner = result.winner or "none (no significant click-through difference at 95%)"
    return "\n".join(
        [
            describe(result.experiment),
            "",
            *lines,
            "",
            _difference("click-through", result.ctr),
            _difference("conversion", result.conversion),
            f"winner: {winner}",
        ]
    )
