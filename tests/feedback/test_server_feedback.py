"""`GET /v1/feedback`, the client methods and the Prometheus counters, on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from attune.client import APIError, AsyncClient, Client, Interaction
from attune.data.dataset import Dataset
from tests.server.conftest import STOPPED, Keys, Server, make_db, make_keys


@pytest.fixture(scope="module")
def served(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Keys]]:
    """A server of its own, so that every list it counts is one of this module's."""
    db, model = make_db(trained, tmp_path_factory.mktemp("feedback"))
    keys = make_keys(db)
    server = Server(db, model).start()
    yield server, keys
    assert server.stop() in STOPPED, server.output


def test_feedback_endpoint_and_metrics_count_clicks(served: tuple[Server, Keys]) -> None:
    server, keys = served
    client = Client(server.url, api_key=keys.admin)
    recs = client.recommend("u3", k=4)
    top = recs.items[0]
    client.ingest(
        [
            Interaction(
                user_id="u3", item_id=top.item_id, recommendation_id=recs.recommendation_id
            ),
            Interaction(
                user_id="u3",
                item_id=top.item_id,
                event_type="purchase",
                recommendation_id=recs.recommendation_id,
            ),
            Interaction(user_id="u3", item_id="c0-1", recommendation_id="unknown"),
            # Shown to u3 just before, but named no list: it could have (untagged).
            Interaction(user_id="u3", item_id=recs.items[1].item_id),
        ]
    )
    reader = Client(server.url, api_key=keys.recommend)
    summary = reader.feedback()
    (version,) = summary.by_version
    assert (version.lists, version.items, version.clicks, version.conversions) == (1, 4, 1, 1)
    assert (version.ctr, version.conversion_rate) == (0.25, 0.25)
    assert (summary.unattributed, summary.untagged) == (1, 1)
    reasons = {r.reason: r for r in summary.by_reason}
    assert (reasons[top.reason.kind].clicks, reasons[top.reason.kind].conversions) == (1, 1)
    assert sum(r.items for r in summary.by_reason) == 4

    text = client.metrics()
    v = recs.model_version
    labels = f'model_version="{v}",reason="{top.reason.kind}"'
    assert f'attune_impressions_total{{model_version="{v}"}} 1.0' in text
    assert f"attune_feedback_clicks_total{{{labels}}} 1.0" in text
    assert f"attune_feedback_conversions_total{{{labels}}} 1.0" in text
    assert "attune_feedback_unattributed_total 1.0" in text
    assert "attune_feedback_untagged_total 1.0" in text
    assert "attune_impression_items_total{" in text

    async def from_async() -> None:
        async with AsyncClient(server.url, api_key=keys.admin) as aclient:
            assert await aclient.feedback() == summary

    asyncio.run(from_async())
    with pytest.raises(APIError) as err:
        Client(server.url, api_key=keys.ingest).feedback()
    assert err.value.status == 403


def test_feedback_schema_is_documented(served: tuple[Server, Keys]) -> None:
    server, _ = served
    spec = httpx.get(f"{server.url}/openapi.json").json()
    ref = spec["paths"]["/v1/feedback"]["get"]["responses"]["200"]["content"]["application/json"]
    schemas = spec["components"]["schemas"]
    counts = {"items", "clicks", "conversions", "ctr"}
    assert ref["schema"]["$ref"].endswith("/FeedbackSummary")
    for name, fields in (
        ("FeedbackSummary", {"by_version", "by_reason", "unattributed", "untagged"}),
        ("VersionFeedback", {"model_version", "lists", *counts, "conversion_rate"}),
        ("ReasonFeedback", {"model_version", "reason", *counts}),
    ):
        properties = schemas[name]["properties"]
        assert set(properties) == fields, name
        assert all(p.get("description") for p in properties.values()), name
