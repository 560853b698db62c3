"""`attune report`: click-through and conversion of served lists, from the database alone."""

from __future__ import annotations

from pathlib import Path

import typer

from attune.cli.errors import fail, user_errors
from attune.feedback import FeedbackConfig, FeedbackSummary, Outcomes
from attune.stores import SQLiteStore
from attune.stores.impressions import SQLiteImpressions


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    db: Path = typer.Option(..., "--db", help="Database the server logs to."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Lists served, items shown, clicks and conversions per model version and per reason.

    Computed by joining the event log to the logged impressions (no server needed, one may
    be running), with the click and conversion types the engine last used on the database.
    """
    if not db.is_file():
        raise fail(f"database {db} does not exist")
    with user_errors(), SQLiteStore(db) as store:
        impressions = SQLiteImpressions(store)
        definition = impressions.definition() or FeedbackConfig()
        summary = impressions.report(Outcomes.resolve(definition, store.event_types())).summary()
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
    """The summary as two aligned tables and the unattributed count."""
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
    out += ["", f"unattributed events: {summary.unattributed}"]
    return "\n".join(out)
