"""Ids in paths: the `id` convertor and `IdRoute`, so that any id is addressable and an id never
splits into another route.

`{user_id:id}` matches any characters, `/` included, because the router matches the decoded
path: an id holding `/` arrives as `%2F`, and only the raw path still tells the two apart.
`IdRoute` therefore refuses a match whose raw path has more `/` than its template: in
`PUT /v1/users/1/history` the `/` is literal, so it is not the user `1/history` (the server
answers 405, as for any route that lacks the method), while `PUT /v1/users/1%2Fhistory` is.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.routing import Match
from starlette.types import Scope


class _AnyId(StringConvertor):
    regex = r"[\s\S]*"


ANY_ID = _AnyId()
register_url_convertor("id", ANY_ID)


class IdRoute(APIRoute):
    """An `APIRoute` whose `id` parameters match only what the client percent-encoded."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._has_ids = any(c is ANY_ID for c in self.param_convertors.values())
        self._slashes = self.path_format.count("/")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or not self._has_ids:
            return match, child
        raw = scope.get("raw_path")
        if raw is None:  # a server that does not say: the decoded path is all there is
            return match, child
        raw = raw.split(b"?", 1)[0]
        root = scope.get("root_path", "").encode()
        if root and raw.startswith(root):
            raw = raw[len(root) :]
        if raw.count(b"/") != self._slashes:
            return Match.NONE, {}
        return match, child
