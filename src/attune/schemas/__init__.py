"""The shapes of the HTTP API, shared by the server and the Python client (`attune.client`).

Pure pydantic: nothing here imports a web framework, an array library or another attune
package, so the client stays light. The data layer's typed records live here too, because
the API's bodies are those records. This `__init__` imports nothing, so a module that needs
one shape (the data layer its records, the CLI the key scopes) builds only that module's
models. The modules:

- `records`: `Interaction`, `ItemUpdate`, `UserUpdate`, external ids and attribute values.
- `request`: conventions of request bodies (strict types, `Instant` times, size limits).
- `events`: the `Event` body, one or a batch, and `IngestResponse`.
- `filters`: `FilterSpec` (which items a request may return) and its request form `Filters`.
- `recommendations`: lists, reasons, explanations, histories, similar items.
- `catalogue`: item and user attribute bodies, `Upserted`, `Erasure`.
- `directory`: users and items looked up by prefix or ids.
- `operations`: health, readiness, traffic statistics, evaluation reports.
- `feedback`: click-through and conversion per model version and reason.
- `problems`: RFC 9457 error documents.
- `keys`: the scopes of API keys.
"""
