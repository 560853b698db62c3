"""Re-keying the stored user ids (a pseudonym key rotation) of the embedded backend."""

from __future__ import annotations

import json
from collections.abc import Callable

from attune.stores.sqlite.database import Database
from attune.stores.sqlite.scrub import owe_rebuild

ROTATIONS_KEY = "pseudonym_rotations"
"""Meta key: the rotations applied (JSON list of their names), so a rerun changes nothing."""


def rekey_users(database: Database, rotation: str, rekey: Callable[[str], str]) -> int:
    """Replace every user id but the tombstones by `rekey(id)`, in one transaction, unless
    `rotation` was applied already; how many ids changed. The old ids stay in the file's
    free pages until the rebuild this owes (as after an erasure)."""
    with database.transaction() as db:
        done = json.loads(database.get_meta(ROTATIONS_KEY, "[]") or "[]")
        if rotation in done:
            return 0
        rows = db.execute("SELECT idx, ext_id FROM users").fetchall()
        renamed = [(int(i), rekey(str(old))) for i, old in rows if not str(old).startswith("\x00")]
        db.executemany("UPDATE users SET ext_id=? WHERE idx=?", [(n, i) for i, n in renamed])
        database.set_meta(ROTATIONS_KEY, json.dumps([*done, rotation]))
        owe_rebuild(db)
    for idx, new in renamed:
        database.users.rename(idx, new)
    return len(renamed)
