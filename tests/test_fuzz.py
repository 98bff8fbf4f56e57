"""The API against its own OpenAPI document, fuzzed with schemathesis.

Every operation of the served document gets generated requests (valid and
invalid) with a real token and, where the operation names roles (``x-roles``),
an acting person holding the first of them. The checks: no 5xx, every status
and content type documented, every body matching its documented schema.
``FUZZ_EXAMPLES`` sets the cases per operation (``make test`` 50, ``make fuzz``
1,000).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from exchange import create_app
from tests.conftest import ISSUER, org_factory, rolled_back

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
ROLES = ("social_worker", "staff", "auditor", "admin", "reporter")


def _document() -> dict[str, Any]:
    """The served document, read once at collection (no database is touched for it)."""
    with tempfile.TemporaryDirectory() as keys:
        app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "KEYS_DIR": keys})
        document: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return document


schema = schemathesis.openapi.from_dict(_document())


@schemathesis.serializer("application/jose")
def _jose(_context: Any, value: Any) -> bytes:
    """A packet body is a compact JWS: sent as the text it is."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def fuzzed(database_url: str, keys_dir: Any) -> Iterator[dict[str, Any]]:
    application = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("EXCHANGE_TEST_REDIS_URL"),
            "KEYS_DIR": str(keys_dir),
            "ISSUER": ISSUER,
            "RATE_LIMIT": "1000000/minute",
        }
    )
    with rolled_back(application):
        http = application.test_client()
        org = org_factory(application.extensions["exchange"], http)(
            "fuzz-org", users=[(f"fuzz.{role}", [role]) for role in ROLES]
        )
        org_factory(application.extensions["exchange"], http)("fuzz-partner")
        tokens = {role: org.client.headers(f"fuzz.{role}") for role in ROLES}
        yield {"app": application, "headers": tokens, "system": org.client.headers()}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_its_contract(case: Any, fuzzed: dict[str, Any]) -> None:
    roles = case.operation.definition.raw.get("x-roles") or []
    headers = dict(fuzzed["headers"][roles[0]] if roles else fuzzed["system"])
    if case.meta is not None and case.meta.generation.mode.is_negative:
        # A case meant to be invalid keeps its own headers: adding the acting person here
        # could make it valid again. The token is always real.
        headers = {"Authorization": headers["Authorization"]}
    if case.headers:
        # A generated X-Acting-User or Idempotency-Key stays: it is part of what is fuzzed.
        headers.update({k: v for k, v in case.headers.items() if k != "Authorization"})
    # A schema-valid value may still be refused on purpose: an identity code with a wrong
    # check character, an opaque cursor the service did not issue. That check is off.
    case.call_and_validate(
        headers=headers, app=fuzzed["app"], excluded_checks=[positive_data_acceptance]
    )
