"""The Redis backend (`redis://host:port/db`, `rediss://` for TLS): every port in Redis, shared
by any number of server processes; key layout and write protocol in docs/scaling.md."""

from attune.stores.redis.storage import RedisStorage

__all__ = ["RedisStorage"]
