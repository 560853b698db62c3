"""Turn library errors into one clear line and a non-zero exit, never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the input's fault. Imported when a command runs, not when the CLI
    loads: the importers and the store pull in numpy."""
    from attune.data.importers import DataFormatError
    from attune.data.importers.fetch import FetchError
    from attune.ports import StorageError
    from attune.stores import unavailable_errors

    return (DataFormatError, FetchError, StorageError, FileNotFoundError, *unavailable_errors())


@contextmanager
def user_errors(*extra: type[Exception]) -> Iterator[None]:
    caught = (*_user_errors(), *extra)
    try:
        yield
    except caught as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def fail(message: str) -> typer.Exit:
    """Print `error: message` in red on stderr; raise the returned exit (status 2)."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)
