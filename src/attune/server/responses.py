"""Hot-path answers as dicts serialised by orjson, skipping a second pydantic validation.

The shapes here are the `schemas` models' (the routes declare those as `response_model`, so
the OpenAPI document is unchanged); the schemathesis suite checks every answer against them.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from attune.engine.engine import Recommendations
from attune.engine.explain import Reason


class FastJSON(JSONResponse):
    """JSON by orjson (a `JSONResponse`, so the OpenAPI document keeps the route's model)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def reason(r: Reason) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "text": r.text,
        "influences": [
            {
                "item_id": i.item_id,
                "event_type": i.event_type,
                "timestamp": i.timestamp,
                "weight": i.weight,
            }
            for i in r.influences
        ],
        "matched_attributes": r.matched_attributes,
    }


def recommendations(recs: Recommendations) -> dict[str, Any]:
    return {
        "recommendation_id": recs.recommendation_id,
        "user_id": recs.user_id,
        "model_version": recs.model_version,
        "source": recs.source,
        "items": [
            {"item_id": r.item_id, "score": r.score, "reason": reason(r.reason)} for r in recs.items
        ],
        "experiment": recs.experiment,
        "arm": recs.arm,
    }
