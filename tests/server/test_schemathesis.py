"""Property-based API testing with schemathesis against the schema the server serves: no 5xx,
every response conforms to the schema, what the schema allows is taken and what it forbids is
refused with a 4xx naming the field, and requests without a key are refused. (The long run,
every check and phase with 100 examples an operation, is `bench/hardening.py --parts fuzz`,
with the same settings and hooks.)"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import Keys, Server

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from fuzz_hooks import (  # noqa: E402
    negative_data_rejection_by_pattern,
    positive_data_acceptance_now,
)

EXAMPLES = 12
"""Examples per operation and mode: the whole run stays within seconds."""


@pytest.fixture(scope="module")
def api_schema(keyed_server: tuple[Server, Keys]) -> schemathesis.BaseSchema:
    server, _ = keyed_server
    config = schemathesis.config.SchemathesisConfig.from_path(BENCH / "schemathesis.toml")
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


def validation_names_the_field(ctx: object, response: schemathesis.Response, case: object) -> None:
    """A 422 is a problem document listing each field at fault."""
    if response.status_code == 422:
        problem = response.json()
        assert problem["errors"], f"422 without the fields at fault: {problem}"
        assert all(e["field"] and e["message"] for e in problem["errors"]), problem


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection_by_pattern,
    positive_data_acceptance_now,
    ignored_auth,
    validation_names_the_field,
]


def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, keyed_server: tuple[Server, Keys]
) -> None:
    # Schemathesis' lazy pytest fixture integration does not run under pytest 9, so each
    # operation gets a Hypothesis test built from its strategies here. The server is the API
    # tests' one (this module runs after them): the fuzzer erases and rewrites random ids.
    server, keys = keyed_server
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(
                    base_url=server.url,
                    headers={"X-API-Key": keys.admin},
                    checks=CHECKS,
                    timeout=30,
                )
                statuses[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break: no parameters
            except Exception as exc:  # every operation is tried; all failures are reported
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:1500]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    # Both valid and malformed requests were sent; none failed on the server.
    assert statuses[200] > 50 and statuses[422] > 50 and not any(s >= 500 for s in statuses)
    assert "request failed" not in server.output
