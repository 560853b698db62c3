"""The Redis key layout (docs/scaling.md): every key carries a `{hash tag}`, and no command or
script touches keys of two tags, so the layout runs unchanged on Redis Cluster."""

from __future__ import annotations

PREFIX = "attune:"


def user_key(user: int, part: str) -> str:
    """A per-user key: every key of one user shares the `{u:<idx>}` slot."""
    return f"{PREFIX}{{u:{user}}}:{part}"


def user_key_pattern(part: str) -> str:
    """SCAN pattern over one per-user key of every user."""
    return f"{PREFIX}{{u:*}}:{part}"


def user_of_key(key: bytes | str) -> int:
    """The user index in a per-user key."""
    text = key.decode() if isinstance(key, bytes) else key
    return int(text.split("{u:", 1)[1].split("}", 1)[0])


def global_key(tag: str, part: str) -> str:
    """A key of one global structure: `tag` names its slot."""
    return f"{PREFIX}{{{tag}}}:{part}"


META = f"{PREFIX}{{meta}}"
"""Hash of deployment metadata: event types, dataset name, attribute fields."""
