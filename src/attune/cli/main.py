"""Entry point of the `attune` console script; each command group lives in its own module.

The command modules import only what their signatures need (typer, pathlib, light enums) and
load the engine, torch and the web framework inside the commands, so `attune --help` and
`attune --version` answer without loading them.
"""

from __future__ import annotations

import typer

from attune import __version__
from attune.cli import data as data_cli
from attune.cli import experiments as experiments_cli
from attune.cli import forget as forget_cli
from attune.cli import learn as learn_cli
from attune.cli import model as model_cli
from attune.cli import report as report_cli
from attune.cli import serve as serve_cli
from attune.cli import tune as tune_cli
from attune.cli import users as users_cli
from attune.cli.config import config_app

app = typer.Typer(
    name="attune",
    help="Attune: a self-hosted, real-time personalized recommendation engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click's plain help, not Rich's panels: it wraps every paragraph to the terminal width,
    # shows each option's metavar and keeps `[env var: ...]` and `[required]` (Rich's table
    # squeezes the help into a narrow column at 80 columns and reads `[...]` as markup).
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attune {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    log_level: str = typer.Option(
        "warning", metavar="LEVEL", help="Log level: debug, info, warning, error."
    ),
    log_json: bool = typer.Option(False, help="Write logs as JSON lines."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    from attune.log import configure

    configure(log_level, json=log_json)


data_cli.register(app)
model_cli.register(app)
tune_cli.register(app)
learn_cli.register(app)
experiments_cli.register(learn_cli.models_app)
forget_cli.register(learn_cli.models_app)
report_cli.register(app)
serve_cli.register(app)
users_cli.register(app)
app.add_typer(config_app, name="config")
