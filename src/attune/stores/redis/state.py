"""User states as one string per user, in the user's slot."""

from __future__ import annotations

from collections.abc import Iterator

from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key, user_key, user_key_pattern, user_of_key

APPLIED = global_key("log", "applied")

_RAISE = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > old then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class RedisUserStateStore:
    """`UserStateStore` in Redis: every `put` is durable and seen by every server, so a
    snapshot only records how far this server has folded the log (the highest position any
    server reported, kept in `attune:{log}:applied`)."""

    def __init__(self, client: Client) -> None:
        self._r = client
        self._raise = client.register_script(_RAISE)

    def get(self, user: int) -> bytes | None:
        raw = self._r.get(user_key(user, "state"))
        return None if raw is None else bytes(raw)

    def put(self, user: int, state: bytes) -> None:
        self._r.set(user_key(user, "state"), state)

    def delete(self, user: int) -> bool:
        return bool(self._r.delete(user_key(user, "state")))

    def _keys(self) -> Iterator[bytes]:
        return iter(self._r.scan_iter(match=user_key_pattern("state"), count=1000))

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())

    def users(self) -> Iterator[int]:
        return iter(sorted(user_of_key(k) for k in self._keys()))

    def nbytes(self) -> int:
        keys = list(self._keys())
        pipe = self._r.pipeline(transaction=False)
        for k in keys:
            pipe.memory_usage(k)
        return sum(int(n or 0) for n in pipe.execute())

    def save_snapshot(self, last_seq: int) -> None:
        self._raise(keys=[APPLIED], args=[last_seq])

    def applied(self) -> int:
        """The highest log position a server reported as folded into state."""
        return int(self._r.get(APPLIED) or 0)

    def load_snapshot(self) -> int:
        """The states are already in Redis: what is left to replay is what follows the
        highest position a server reported. Replaying more is harmless (a state skips an event
        it has folded), and it is what repairs a state left behind by a server that died
        between logging an event and storing the state."""
        return self.applied()
