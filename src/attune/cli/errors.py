"""Turn library errors into one clear line and a non-zero exit, never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from attune.data.importers import DataFormatError
from attune.data.importers.fetch import FetchError
from attune.stores import StoreError

USER_ERRORS: tuple[type[Exception], ...] = (
    DataFormatError,
    FetchError,
    StoreError,
    FileNotFoundError,
)


@contextmanager
def user_errors(*extra: type[Exception]) -> Iterator[None]:
    try:
        yield
    except (*USER_ERRORS, *extra) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def fail(message: str) -> typer.Exit:
    """Print `error: message` in red on stderr; raise the returned exit (status 2)."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)
