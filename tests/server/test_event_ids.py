"""`POST /v1/events` is idempotent by event id, and the client's retries rely on it."""

from __future__ import annotations

import httpx
import pytest

from attune.client import Client
from tests.server.conftest import Keys, Server

Served = tuple[Server, Keys]


def _events_logged(client: Client) -> int:
    return client.stats(window=10).events


@pytest.mark.parametrize("auth", ["x-api-key", "authorization"])  # fast path, declared route
def test_the_same_event_id_twice_is_acknowledged_twice_and_applied_once(
    keyed_server: Served, auth: str
) -> None:
    server, keys = keyed_server
    admin = Client(server.url, api_key=keys.admin)
    user = f"dup-{auth}"
    header = {auth: keys.ingest if auth == "x-api-key" else f"Bearer {keys.ingest}"}
    event = {"user_id": user, "item_id": "c1-1", "event_type": "click", "event_id": "e-1"}
    first = httpx.post(f"{server.url}/v1/events", json=event, headers=header)
    assert first.status_code == 200, first.text
    assert first.json() | {"last_seq": 0} == {
        "accepted": 1, "rejected": [], "duplicates": 0, "last_seq": 0,
    }  # fmt: skip
    history, logged = admin.history(user), _events_logged(admin)
    popular = admin.recommend("nobody-yet", k=20)  # the popularity list
    again = httpx.post(f"{server.url}/v1/events", json=event, headers=header)
    assert again.status_code == 200, again.text
    assert again.json() == {"accepted": 0, "rejected": [], "last_seq": 0, "duplicates": 1}
    assert admin.history(user) == history and _events_logged(admin) == logged
    assert [i.item_id for i in admin.recommend("nobody-yet", k=20).items] == [
        i.item_id for i in popular.items
    ]
    assert "attune_events_duplicate_total" in admin.metrics()


def test_a_batch_with_repeats_counts_each_event_once(keyed_server: Served) -> None:
    server, keys = keyed_server
    admin = Client(server.url, api_key=keys.admin)
    batch = [
        {"user_id": "dup-batch", "item_id": "c2-1", "event_id": "a"},
        {"user_id": "dup-batch", "item_id": "c2-2", "event_id": "b"},
        {"user_id": "dup-batch", "item_id": "c2-1", "event_id": "a"},
        {"user_id": "dup-batch-2", "item_id": "c2-1", "event_id": "a"},
    ]
    result = admin.ingest(batch)
    assert (result.accepted, result.duplicates, result.rejected) == (3, 1, [])
    assert [e.item_id for e in admin.history("dup-batch").events] == ["c2-1", "c2-2"]
    again = admin.ingest(batch)
    assert (again.accepted, again.duplicates) == (0, 4)


def test_event_ids_are_bounded(keyed_server: Served) -> None:
    server, keys = keyed_server
    url, header = f"{server.url}/v1/events", {"x-api-key": keys.ingest}
    event = {"user_id": "dup-long", "item_id": "c2-1", "event_id": "x" * 128}
    assert httpx.post(url, json=event, headers=header).json()["accepted"] == 1
    r = httpx.post(url, json=event | {"event_id": "x" * 129}, headers=header)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("event_id")


class LoseFirstAnswer(httpx.HTTPTransport):
    """Sends every request to the server, but loses its first answer: the server applied the
    request, the client saw the connection close."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        response = super().handle_request(request)
        if self.sent == 1:
            response.read()
            response.close()
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return response


def test_the_client_resends_a_batch_whose_answer_was_lost(keyed_server: Served) -> None:
    server, keys = keyed_server
    transport = LoseFirstAnswer()
    with Client(server.url, api_key=keys.admin, transport=transport, backoff=0.01) as client:
        events = [{"user_id": "dup-retry", "item_id": f"c3-{j}"} for j in range(3)]
        result = client.ingest(events)
        # The first try was applied; the resent one is recognised by its event ids.
        assert (result.accepted, result.duplicates, result.rejected) == (0, 3, [])
        assert transport.sent == 2
        assert [e.item_id for e in client.history("dup-retry").events] == ["c3-0", "c3-1", "c3-2"]
