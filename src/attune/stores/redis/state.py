"""User states in the user's slot: the packed state (one string) and its tail of acknowledged
events not folded into it yet (a list the event log's user script appends to), folded back
with a compare-and-set (docs/scaling.md, "What acknowledged means")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from attune.ports import StateRead
from attune.stores.redis.connection import Client, run_script
from attune.stores.redis.layout import global_key, user_key, user_key_pattern, user_of_key
from attune.stores.redis.records import tail_event, tail_key

APPLIED = global_key("log", "applied")

_RAISE = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > old then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

_READ = """
return {redis.call('GET', KEYS[1]) or false, redis.call('LRANGE', KEYS[2], 0, -1)}
"""

_FOLD = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
local n = tonumber(ARGV[3])
if n > 0 then
  local last = redis.call('LINDEX', KEYS[2], n - 1)
  if not last or string.sub(last, 1, #ARGV[4] + 1) ~= ARGV[4] .. ' ' then return 0 end
  redis.call('LTRIM', KEYS[2], n, -1)
end
redis.call('SET', KEYS[1], ARGV[5])
return 1
"""


class RedisUserStateStore:
    """`UserStateStore` in Redis: every `put` is durable and seen by every server, so a
    snapshot only records how far this server has folded the log (the highest position any
    server reported, kept in `attune:{log}:applied`)."""

    def __init__(self, client: Client) -> None:
        self._r = client
        self._raise = client.register_script(_RAISE)
        self._read = client.register_script(_READ)
        self._fold = client.register_script(_FOLD)

    def get(self, user: int) -> bytes | None:
        raw = self._r.get(user_key(user, "state"))
        return None if raw is None else bytes(raw)

    def put(self, user: int, state: bytes) -> None:
        self._r.set(user_key(user, "state"), state)

    def delete(self, user: int) -> bool:
        return bool(self._r.delete(user_key(user, "state"), user_key(user, "tail")))

    # -- shared folding (`SharedUserStates`) -----------------------------------------------------

    def read(self, users: Sequence[int]) -> dict[int, StateRead]:
        calls: list[tuple[list[str], list[Any]]] = [
            ([user_key(u, "state"), user_key(u, "tail")], []) for u in users
        ]
        out: dict[int, StateRead] = {}
        for u, (packed, entries) in zip(users, run_script(self._r, self._read, calls), strict=True):
            token = tail_key(entries[-1]) if entries else b""
            tail = [tail_event(e) for e in entries]
            out[u] = StateRead(None if packed is None else bytes(packed), tail, token)
        return out

    def write(self, writes: Sequence[tuple[int, StateRead, bytes]]) -> list[bool]:
        calls = []
        for u, seen, state in writes:
            had = "0" if seen.packed is None else "1"
            args = [had, seen.packed or b"", len(seen.tail), seen.token, state]
            calls.append(([user_key(u, "state"), user_key(u, "tail")], args))
        return [bool(int(ok)) for ok in run_script(self._r, self._fold, calls)]

    def unfolded_users(self) -> Iterator[int]:
        keys = self._r.scan_iter(match=user_key_pattern("tail"), count=1000)
        return iter(sorted(user_of_key(k) for k in keys))

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
