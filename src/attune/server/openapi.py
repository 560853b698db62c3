"""The OpenAPI document, declaring exactly what this server accepts and answers.

FastAPI's document comes from the request models, which already carry the fixed rules (the id
pattern, time grammar, batch and list sizes). Added here, from the same objects the server
checks with:
- the input limits of this server's settings (`InputLimits`, what `JsonLimits` enforces): the
  length of every body string, the keys of every object, the elements of every array, and the
  bounded depth, keys and strings of the free-form maps (`context`, `attributes`);
- what the loaded engine knows: its event types (a single event of another type is refused;
  in a batch it is rejected on its own and the rest accepted) and its `max_k`;
- the answers every route can give beyond its own: 401/403 on protected routes, 429 where a
  rate limit applies, 503 when a request times out, 500, all problem documents.

What JSON Schema cannot say is in the descriptions: the body size (413), the count of values
in a body, and timestamps too far in the future (rejected per event).
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from attune.schemas.patterns import id_pattern
from attune.schemas.problems import Problem
from attune.schemas.records import ID_FORMAT, ID_RULE
from attune.server.input_limits import MAP_FIELDS, InputLimits
from attune.server.problems import PROBLEM_JSON
from attune.server.rate_limits import route_class
from attune.server.settings import ServerSettings

_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch")
_BATCH_EVENT = "BatchEvent"


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The document for `/openapi.json`; kept once the engine is loaded (its event types are
    part of it), rebuilt on each call before."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    settings: ServerSettings = app.state.settings
    doc = copy.deepcopy(  # shares nothing with the models' schemas, so edits stay here
        get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
    )
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=_REF + "{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    engine = app.state.engine
    if engine is not None:
        _engine_rules(doc, engine.event_types.names, engine.config.max_k)
    BodyBounds(settings.input_limits, components).apply(doc)
    _declare_answers(doc, settings)
    _share_id_schemas(doc)
    if engine is not None:
        app.openapi_schema = doc
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc.get("paths", {}).items()
        for method, op in item.items()
        if method in _METHODS
    ]


def _engine_rules(doc: dict[str, Any], event_types: list[str], max_k: int) -> None:
    """Event types and `k` as the loaded engine takes them."""
    components = doc["components"]["schemas"]
    event = components.get("Event")
    if event is not None:
        components[_BATCH_EVENT] = {**event, "title": _BATCH_EVENT, "properties": {
            **event["properties"],
            "event_type": {
                **event["properties"]["event_type"],
                "description": "Event type name; in a batch, an event of a type this server "
                "does not know is rejected on its own (listed in `rejected`).",
            },
        }}  # fmt: skip
        event["properties"]["event_type"]["enum"] = list(event_types)
        body = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        for choice in body["schema"].get("oneOf", []):
            if choice.get("type") == "array":
                choice["items"] = {"$ref": _REF + _BATCH_EVENT}
    filters = components.get("Filters", {}).get("properties", {})
    if "reconsumable_event_types" in filters:
        filters["reconsumable_event_types"]["items"]["enum"] = list(event_types)
    for _, _, op in _operations(doc):
        for param in op.get("parameters", []):
            if param["name"] == "k" and "maximum" in param["schema"]:
                param["schema"]["maximum"] = min(param["schema"]["maximum"], max_k)
    request = components.get("RecommendRequest", {}).get("properties", {})
    if "k" in request:
        request["k"]["maximum"] = min(request["k"]["maximum"], max_k)


class BodyBounds:
    """Writes `InputLimits` into the schemas of request bodies: every string, object and array
    a body may hold, and the free-form maps of each record (the body object, or each object
    of a body array: where `JsonLimits` applies its map bounds)."""

    def __init__(self, limits: InputLimits, components: dict[str, Any]) -> None:
        self.limits = limits
        self.components = components
        self.seen: set[str] = set()
        self.maps: set[int] = set()
        """`id` of each map schema already bounded (shared by two records, or two bodies)."""

    def apply(self, doc: dict[str, Any]) -> None:
        for _, _, op in _operations(doc):
            for media in op.get("requestBody", {}).get("content", {}).values():
                schema = media.get("schema", {})
                for record in self._records(schema):
                    self._maps(record)
                self._bound(schema)
        self._map_values()

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return self.components[ref.removeprefix(_REF)] if ref.startswith(_REF) else schema

    def _records(self, body: dict[str, Any], depth: int = 1) -> list[dict[str, Any]]:
        schema = self._resolve(body)
        found = []
        for choice in schema.get("oneOf", []) + schema.get("anyOf", []):
            found += self._records(choice, depth)
        if schema.get("type") == "array" and depth == 1:
            found += self._records(schema.get("items", {}), depth + 1)
        if schema.get("type") == "object":
            found.append(schema)
        return found

    def _maps(self, record: dict[str, Any]) -> None:
        for name in MAP_FIELDS:
            prop = record.get("properties", {}).get(name)
            if prop is not None and id(prop) not in self.maps:
                bounded = self._map(prop, 1)
                prop.clear()
                prop.update(bounded or {"type": "object", "maxProperties": 0})
                self.maps.add(id(prop))

    def _map(self, schema: dict[str, Any] | bool, depth: int) -> dict[str, Any] | None:
        """`schema` (a value at map level `depth`) within the map bounds; None if it can
        only be a container nested deeper than they allow."""
        limits = self.limits
        if schema is True or schema == {}:
            return {"$ref": _REF + f"MapValue{depth}"}
        assert isinstance(schema, dict)
        out = {k: v for k, v in schema.items() if k not in ("anyOf", "additionalProperties")}
        if "anyOf" in schema:
            choices = [c for c in (self._map(c, depth) for c in schema["anyOf"]) if c]
            return {**out, "anyOf": choices} if choices else None
        kind = schema.get("type")
        if kind in ("object", "array") and depth > limits.map_max_depth:
            return None
        if kind == "object":
            child = self._map(schema.get("additionalProperties", True), depth + 1)
            out.update(maxProperties=limits.map_max_keys, additionalProperties=child or False)
            out["propertyNames"] = {"maxLength": limits.map_max_string}
        elif kind == "array":
            out["maxItems"] = min(schema.get("maxItems", limits.max_items), limits.max_items)
            out["items"] = self._map(schema.get("items", True), depth + 1) or {"not": {}}
        elif kind == "string":
            out["maxLength"] = min(
                schema.get("maxLength", limits.map_max_string), limits.map_max_string
            )
        return out

    def _map_values(self) -> None:
        """`MapValue<n>`: any JSON value at level n of a map, as deep as the bounds allow."""
        limits = self.limits
        for depth in range(2, limits.map_max_depth + 2):
            choices: list[dict[str, Any]] = [
                {"type": "string", "maxLength": limits.map_max_string},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
            if depth <= limits.map_max_depth:
                child = {"$ref": _REF + f"MapValue{depth + 1}"}
                choices += [
                    {"type": "array", "maxItems": limits.max_items, "items": child},
                    {
                        "type": "object",
                        "maxProperties": limits.map_max_keys,
                        "propertyNames": {"maxLength": limits.map_max_string},
                        "additionalProperties": child,
                    },
                ]
            self.components[f"MapValue{depth}"] = {"anyOf": choices}

    def _bound(self, schema: Any) -> None:
        """Body-wide bounds on `schema` and everything it refers to (maps excepted)."""
        if not isinstance(schema, dict) or id(schema) in self.maps:
            return
        ref = schema.get("$ref", "")
        if ref.startswith(_REF):
            name = ref.removeprefix(_REF)
            if name not in self.seen:
                self.seen.add(name)
                self._bound(self.components[name])
            return
        limits = self.limits
        kind = schema.get("type")
        if kind == "string":
            schema["maxLength"] = min(schema.get("maxLength", limits.max_string), limits.max_string)
        elif kind == "array":
            schema["maxItems"] = min(schema.get("maxItems", limits.max_items), limits.max_items)
        elif kind == "object" and schema.get("additionalProperties") is not False:
            schema["maxProperties"] = min(
                schema.get("maxProperties", limits.max_keys), limits.max_keys
            )
            names = schema.setdefault("propertyNames", {})
            names["maxLength"] = min(names.get("maxLength", limits.max_string), limits.max_string)
        for key in ("items", "additionalProperties"):
            self._bound(schema.get(key))
        for key in ("anyOf", "oneOf", "allOf"):
            for choice in schema.get(key, []):
                self._bound(choice)
        for prop in schema.get("properties", {}).values():
            self._bound(prop)


def _problem(status: int, **headers: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _REF + "Problem"}}},
    }
    if headers:
        answer["headers"] = {name.replace("_", "-"): h for name, h in headers.items()}
    return answer


_RETRY_AFTER = {
    "description": "Whole seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
_CHALLENGE = {"description": "`Bearer`: send an API key.", "schema": {"type": "string"}}
_BODY_LIMITS = (
    "Bodies over the server's `max_body_bytes` get 413; JSON bodies with more values (counted "
    "as commas + 1) than `input_limits.max_values`, or with NaN or Infinity, get 422."
)


def _declare_answers(doc: dict[str, Any], settings: ServerSettings) -> None:
    """The statuses each route can answer with besides its own: the key check's (401 with
    `WWW-Authenticate`, 403), the body checks' (400, 413, 422), the rate limit's (429), the
    request timeout's (503, with `Retry-After`), and 500, each a problem document."""
    limited = set(settings.rate_limits.classes)
    timeout = settings.request_timeout_s is not None
    for method, path, op in _operations(doc):
        answers = op.setdefault("responses", {})
        extra: dict[int, dict[str, Any]] = {500: _problem(500)}
        if op.get("security"):
            extra |= {401: _problem(401, WWW_Authenticate=_CHALLENGE), 403: _problem(403)}
        if "requestBody" in op:
            extra |= {400: _problem(400), 413: _problem(413), 422: _problem(422)}
            op["description"] = (op.get("description", "") + "\n\n" + _BODY_LIMITS).strip()
        if op.get("parameters"):
            extra[422] = _problem(422)
        if route_class(method.upper(), path) in limited:
            extra[429] = _problem(429, Retry_After={**_RETRY_AFTER, "required": True})
        if timeout or "503" in answers:
            extra[503] = _problem(503, Retry_After=_RETRY_AFTER)
        for status, answer in extra.items():
            answers[str(status)] = answer


def _share_id_schemas(doc: dict[str, Any]) -> None:
    """The id pattern (thousands of characters) written once, as the component `Id`: each
    id schema keeps its type and length and refers to `Id` (`allOf`) for the rest."""
    pattern = id_pattern()
    found = False

    def visit(node: Any) -> None:
        nonlocal found
        if isinstance(node, list):
            for child in node:
                visit(child)
        if not isinstance(node, dict):
            return
        if node.get("pattern") == pattern and node.get("type") == "string":
            found = True
            del node["pattern"], node["format"]
            node["allOf"] = [{"$ref": _REF + "Id"}]
            return
        for child in node.values():
            visit(child)

    visit(doc["paths"])
    visit(doc["components"]["schemas"])
    if found:
        shared = {"type": "string", "format": ID_FORMAT, "pattern": pattern, "description": ID_RULE}
        doc["components"]["schemas"]["Id"] = shared
