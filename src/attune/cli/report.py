"""`attune report`: click-through and conversion of served lists, from the database alone;
`attune impressions prune`: retention of the served lists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import fail, user_errors

if TYPE_CHECKING:
    from attune.schemas.feedback import FeedbackSummary

impressions_app = typer.Typer(
    help="Served lists (impressions): retention.", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.add_typer(impressions_app, name="impressions")


@impressions_app.command("prune")
def prune(
    db: Path = typer.Option(..., "--db", metavar="FILE", help="Database the server logs to."),
    days: float = typer.Option(
        ...,
        "--older-than-days",
        metavar="DAYS",
        help="Delete lists served more than this many days ago.",
    ),
) -> None:
    """Delete old served lists. The report then covers the lists kept; events that name a
    deleted list count as unattributed. Safe while a server runs on the database."""
    from attune.feedback import FeedbackConfig
    from attune.stores import open_storage

    if not db.is_file():
        raise fail(f"database {db} does not exist")
    with user_errors(), open_storage(db) as store:
        impressions = store.impressions
        window = FeedbackConfig.model_validate(impressions.definition() or {}).attribution_window_s
        if days * 86400.0 < window:
            # Younger lists can still be clicked: deleting them would lose attributions.
            raise fail(
                f"--older-than-days {days:g} is shorter than the attribution window "
                f"({window / 86400.0:g} days); lists that young can still be clicked"
            )
        deleted = impressions.delete_before(time.time() - days * 86400.0)
        left = impressions.count()
    typer.echo(f"deleted {deleted:,} lists served more than {days:g} days ago; {left:,} kept")


def report(
    db: Path = typer.Option(..., "--db", metavar="FILE", help="Database the server logs to."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Lists served, items shown, clicks and conversions per model version and per reason.

    Computed by joining the event log to the logged impressions (no server needed, one may
    be running), with the click and conversion types the engine last used on the database.
    """
    from attune.feedback import FeedbackConfig, Outcomes, tally_of
    from attune.stores import open_storage

    if not db.is_file():
        raise fail(f"database {db} does not exist")
    with user_errors(), open_storage(db) as store:
        definition = FeedbackConfig.model_validate(store.impressions.definition() or {})
        outcomes = Outcomes.resolve(definition, store.event_types())
        summary = tally_of(store.impressions.report(outcomes)).summary()
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        typer.echo(render(summary))


def _table(header: list[str], rows: list[list[str]], text_columns: int = 0) -> list[str]:
    """Aligned columns: numbers to the right, column `text_columns` (when > 0) to the left."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ["<" if i and i == text_columns else ">" for i in range(len(header))]
    line = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths, strict=True))
    return [line.format(*header), *(line.format(*r) for r in rows)]


def render(summary: FeedbackSummary) -> str:
    """The summary as two aligned tables, then the untagged and unattributed counts."""
    if not summary.by_version:
        return f"no impressions logged\nunattributed events: {summary.unattributed}"
    out = ["by model version"]
    out += _table(
        ["version", "lists", "items", "clicks", "conversions", "ctr", "conversion rate"],
        [
            [
                *map(str, (v.model_version, v.lists, v.items, v.clicks, v.conversions)),
                f"{v.ctr:.2%}",
                f"{v.conversion_rate:.2%}",
            ]
            for v in summary.by_version
        ],
    )
    out += ["", "by reason"]
    out += _table(
        ["version", "reason", "items", "clicks", "conversions", "ctr"],
        [
            [
                str(r.model_version),
                r.reason,
                *map(str, (r.items, r.clicks, r.conversions)),
                f"{r.ctr:.2%}",
            ]
            for r in summary.by_reason
        ],
        text_columns=1,
    )
    out += [
        "",
        f"events on a shown item without a recommendation id: {summary.untagged}",
        f"unattributed events: {summary.unattributed}",
    ]
    return "\n".join(out)
