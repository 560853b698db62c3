"""One router per resource: events, users, items, and the operational endpoints.

Ids in paths use the `id` convertor (`attune.server.paths`): any id the id rule accepts,
`/` included when sent percent-encoded, is addressable, and erasable; a literal `/` never
makes an id.
"""

from attune.server import paths as paths  # registers the `id` convertor
