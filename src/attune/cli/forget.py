"""`attune models forget`: make current a version that never learned from erased users."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import fail, user_errors
from attune.cli.learn import REGISTRY, _db, _registry, _registry_errors
from attune.cli.users import PSEUDONYM_KEY, pseudonyms_of

if TYPE_CHECKING:
    from attune.learning.registry import ModelRegistry
    from attune.training.config import TrainConfig


def register(models_app: typer.Typer) -> None:
    models_app.command("forget")(forget)


def forget(
    registry: Path = REGISTRY,
    store: str = typer.Option(
        ...,
        "--store",
        "--db",
        metavar="URL|DB",
        help="The deployment's storage: its erased users, and the events to train on.",
    ),
    user: str | None = typer.Option(
        None,
        "--user",
        metavar="ID",
        help="Check that this user is erased already (DELETE /v1/users/ID erases one); the "
        "version made never saw them nor any other erased user.",
    ),
    pseudonym_key_file: Path | None = PSEUDONYM_KEY,
    epochs: int = typer.Option(
        1, "--epochs", metavar="N", min=1, help="Passes over the events of a fine-tuning round."
    ),
    max_epochs: int | None = typer.Option(
        None,
        "--max-epochs",
        metavar="N",
        min=1,
        help="Epochs of a retrain (when no version is free of erased users); default: the "
        "current version's training configuration.",
    ),
) -> None:
    """Make current a version trained without any erased user's events: fine-tuned from the
    newest version that never saw one, on the events logged since, or retrained when none
    exists. It is promoted without the quality check or an online test; if training fails
    the version that never saw an erased user is promoted instead, and the output says so."""
    from attune.learning.finetune import FineTuneConfig
    from attune.learning.forgetting import ForgetError, forget_erased

    reg = _registry(registry, store)
    with user_errors(), _db(store) as deployment, _registry_errors():
        chain = pseudonyms_of(pseudonym_key_file)
        stored = user if user is None or chain is None else chain(user)
        if stored is not None and deployment.users.get(stored) >= 0:
            raise fail(f"user {user!r} is still stored: erase them first (DELETE /v1/users/ID)")
        retrain = None
        if max_epochs is not None:
            retrain = _retrain_config(reg, max_epochs)
        with user_errors(ForgetError):
            outcome = forget_erased(deployment, reg, FineTuneConfig(epochs=epochs), retrain)
    typer.echo(f"v{outcome.version} is current ({outcome.how}): {outcome.note}")
    if outcome.how == "fallback":
        typer.secho(
            "warning: training failed; serving the newest version that never saw an erased user",
            err=True,
            fg=typer.colors.YELLOW,
        )


def _retrain_config(reg: ModelRegistry, max_epochs: int) -> TrainConfig:
    """The current version's training configuration with `max_epochs` (and patience) capped."""
    current = reg.current() or max(v.version for v in reg.versions())
    config = reg.load_members(current)[0].train_config
    fit = config.train.model_copy(
        update={"max_epochs": max_epochs, "patience": min(config.train.patience, max_epochs)}
    )
    return config.model_copy(update={"train": fit})
