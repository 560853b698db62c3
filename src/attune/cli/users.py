"""`attune users`: the keyed pseudonyms of user ids (docs/privacy.md, "Pseudonymous ids").

`PSEUDONYM_KEY` is the `--pseudonym-key-file` option of every command that takes user ids
from outside (`data import`, `train --data`, `recommend --user`, `models forget --user`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import fail, user_errors

if TYPE_CHECKING:
    from attune.data.pseudonyms import Pseudonyms

users_app = typer.Typer(
    help="Keyed pseudonyms of user ids: create a key, rotate it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PSEUDONYM_KEY = typer.Option(
    None,
    "--pseudonym-key-file",
    metavar="FILE",
    envvar="ATTUNE_PSEUDONYM_KEY_FILE",
    show_envvar=True,
    help="Key file of the deployment's keyed pseudonyms (see `attune users new-key`): user "
    "ids are replaced by their HMAC-SHA256 under it, as the server does. Give the file the "
    "server uses.",
)
KEY_FILE = typer.Option(..., "--key-file", metavar="FILE", help="The pseudonym key file.")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def pseudonyms_of(key_file: Path | None) -> Pseudonyms | None:
    """The key chain of `--pseudonym-key-file` (None when not given); a clear error naming
    the file when it cannot be used."""
    from attune.data.pseudonyms import PseudonymKeyError, load_optional

    try:
        return load_optional(key_file)
    except PseudonymKeyError as exc:
        raise fail(str(exc)) from None


@users_app.command("new-key")
def new_key(key_file: Path = KEY_FILE) -> None:
    """Create a pseudonym key file holding one random 256-bit key (mode 0600). It refuses
    to overwrite a file: a lost key makes every stored pseudonym unreachable by raw id."""
    from attune.data.pseudonyms import Pseudonyms, write_key_file
    from attune.data.pseudonyms import new_key as random_key

    if key_file.exists():
        raise fail(f"{key_file} exists; rotate its key with `attune users rotate-key`")
    write_key_file(key_file, Pseudonyms((random_key(),)))
    typer.echo(f"wrote a new pseudonym key to {key_file}; keep a copy somewhere safe")


@users_app.command("rotate-key")
def rotate_key(
    key_file: Path = KEY_FILE,
    store: str = typer.Option(
        ..., "--store", "--db", metavar="URL|DB", help="The deployment's storage."
    ),
    model: list[Path] = typer.Option(
        [],
        "--model",
        "--registry",
        metavar="DIR",
        help="A model registry or checkpoint directory whose user vocabularies (users.json) "
        "are re-keyed too; repeat for several.",
    ),
    new_key_file: Path | None = typer.Option(
        None,
        "--new-key-file",
        metavar="FILE",
        help="Rotate to the (last) key of this key file; default: a new random key.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Finish an interrupted rotation: its key is the last one in --key-file already.",
    ),
) -> None:
    """Rotate the pseudonym key: append a new key to the chain in --key-file, then re-key
    every stored user id, and each checkpoint's, by HMAC under the new key. Stop the servers
    first and start them again after: they must not write meanwhile, and they read the key
    chain when they start. Safe to run again after an interruption (with --resume when the
    key file has the new key already)."""
    from attune.data.pseudonyms import new_key as random_key
    from attune.data.pseudonyms import write_key_file
    from attune.learning.pseudonym_rotation import rotate
    from attune.stores import open_storage, redacted

    chain = _chain(key_file)
    if resume:
        if len(chain.keys) < 2 or new_key_file is not None:
            raise fail(f"--resume needs {key_file} to hold the new key last, no --new-key-file")
        key = chain.keys[-1]
    else:
        key = _chain(new_key_file).keys[-1] if new_key_file is not None else random_key()
        if key in chain.keys:
            raise fail(f"that key is in {key_file} already (to finish a rotation: --resume)")
        chain = chain.then(key)
        write_key_file(key_file, chain)  # first: the new key is never lost
    with user_errors(ValueError), open_storage(store) as opened:
        report = rotate(opened, key, model)
    typer.echo(
        f"rotation {report.rotation}: {report.store_ids:,} user ids re-keyed in "
        f"{redacted(store)}, {len(report.checkpoints)} checkpoint vocabularies; "
        f"{key_file} holds {len(chain.keys)} keys"
    )


def _chain(key_file: Path) -> Pseudonyms:
    chain = pseudonyms_of(key_file)
    if chain is None:  # not reached: the path is given
        raise fail("no key file given")
    return chain
