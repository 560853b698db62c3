"""The client gives every event an id and resends after a lost answer or a 503, a bounded
number of times, with the same body."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from attune.client import APIError, AsyncClient, Client, Interaction
from attune.client._retry import RetryPolicy, retry_after

OK = {"accepted": 1, "rejected": [], "last_seq": 7, "duplicates": 0}


class Script:
    """Answers requests from a list: an exception to raise, or a status to answer with."""

    def __init__(self, *steps: type[Exception] | int) -> None:
        self.steps = list(steps)
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, int):
            body = OK if step == 200 else {"title": "unavailable", "status": step}
            return httpx.Response(step, json=body, headers={"retry-after": "0"})
        raise step("lost", request=request)


def _client(script: Script, retries: int = 3) -> Client:
    return Client("http://test", transport=httpx.MockTransport(script), retries=retries, backoff=0)


def test_every_event_gets_an_id_and_keeps_its_own() -> None:
    script = Script(200)
    _client(script).ingest(
        [
            Interaction(user_id="u", item_id="i"),
            {"user_id": "u", "item_id": "i"},
            {"user_id": "u", "item_id": "i", "event_id": "mine"},
        ]
    )
    ids = [e["event_id"] for e in json.loads(script.bodies[0])]
    assert ids[2] == "mine" and len(set(ids)) == 3 and all(len(i) == 32 for i in ids[:2])


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, 503]
)
def test_a_failed_try_is_resent_with_the_same_body(failure: type[Exception] | int) -> None:
    script = Script(failure, 200)
    result = _client(script).ingest({"user_id": "u", "item_id": "i"})
    assert result.accepted == 1
    assert len(script.bodies) == 2 and script.bodies[0] == script.bodies[1]


def test_retries_are_bounded() -> None:
    script = Script(503)
    with pytest.raises(APIError) as err:
        _client(script, retries=2).ingest({"user_id": "u", "item_id": "i"})
    assert err.value.status == 503 and len(script.bodies) == 3
    script = Script(httpx.ConnectError)
    with pytest.raises(httpx.ConnectError):
        _client(script, retries=0).health()
    assert len(script.bodies) == 1


def test_other_errors_are_not_retried() -> None:
    for status in (400, 422, 500):
        script = Script(status, 200)
        with pytest.raises(APIError):
            _client(script).ingest({"user_id": "u", "item_id": "i"})
        assert len(script.bodies) == 1


def test_the_async_client_retries_alike() -> None:
    script = Script(httpx.ReadError, 503, 200)

    async def scenario() -> int:
        transport = httpx.MockTransport(script)
        async with AsyncClient("http://test", transport=transport, backoff=0) as client:
            return (await client.ingest({"user_id": "u", "item_id": "i"})).accepted

    assert asyncio.run(scenario()) == 1
    assert len(script.bodies) == 3 and len(set(script.bodies)) == 1


def test_waits_grow_and_follow_retry_after() -> None:
    policy = RetryPolicy(retries=3, backoff=1.0, max_wait=3.0)
    waits = [policy.wait(n, None) for n in range(4)]
    assert waits[3] is None
    low, high = [0.5, 1.0, 2.0], [1.0, 2.0, 3.0]  # 1, 2, 4 s by half to whole, capped at 3
    assert all(lo <= w <= hi for lo, w, hi in zip(low, waits[:3], high, strict=True))  # type: ignore[operator]
    busy = httpx.Response(503, headers={"retry-after": "2"})
    assert policy.wait(0, busy) == 2.0
    assert policy.wait(0, httpx.Response(503, headers={"retry-after": "60"})) == 3.0
    assert policy.wait(0, httpx.Response(500)) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0 and retry_after("soon") is None
