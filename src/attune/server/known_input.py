"""Query parameters a route does not declare are refused with a 422 that lists the ones it
declares (unknown body fields: see `body_fields`).

A misspelt parameter (`?limt=5`, `?genre=Drama` for `?include=genre:Drama`) would otherwise be
ignored and the answer look plausible; naming the known ones makes the typo plain.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from attune.schemas.problems import FieldError
from attune.server.body_fields import known_list
from attune.server.problems import InvalidInputError

_DECLARED = "attune_declared_query"
"""Attribute under which a route keeps the query parameter names it declares, found once
(routes compare by path and endpoint, so they cannot key a cache of their own)."""


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameter names `route` declares, by their alias (`id` for `item_id`)."""
    names: frozenset[str] | None = getattr(route, _DECLARED, None)
    if names is None:
        found: set[str] = set()
        pending: list[Dependant] = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = frozenset(found)
        setattr(route, _DECLARED, names)
    return names


async def _known_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in declared]
    if unknown:
        known = known_list(declared)
        raise InvalidInputError(
            [
                FieldError(field=name, message=f"unknown query parameter; {known}")
                if name
                else FieldError(field="query", message=f"a parameter without a name; {known}")
                for name in unknown
            ]
        )


KnownQuery = Depends(_known_query)
"""A route dependency: 422 for a query parameter the route does not declare, naming it and
listing the declared ones (put it after the key check, so a keyless call still gets 401)."""
