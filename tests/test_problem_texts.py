"""Every problem code the service can answer with has a text for people, in Finnish, Swedish
and English, and the web UI shows that text instead of the API's English detail."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask_babel import force_locale

from consent import errors as consent_errors
from consent.errors import ConsentError
from consent.model import STATUSES as CONSENT_STATUSES
from consent.vocabulary import PACKET_STATUSES
from exchange.problem_texts import PROBLEM_TEXTS, problem_text
from exchange.problems import HTTP_CODES
from tests import test_web_consents
from tests.test_web_consents import api_consent, csrf
from tests.webtools import signed_in

people = test_web_consents.people  # the fixture: a provider and an approver with their people
ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"^[a-z]+(_[a-z]+)*$")
# The constructors whose arguments after the first carry a code (the first is the detail, or
# the field of a rule violation), and ``Refusal``, whose first is its code.
ERRORS = [
    found
    for found in vars(consent_errors).values()
    if isinstance(found, type) and issubclass(found, consent_errors.ExchangeError | ConsentError)
]
RAISERS = {*(error.__name__ for error in ERRORS), "Refusal", "_conflict"}


def _constants(node: ast.AST) -> list[str]:
    return [
        found.value
        for found in ast.walk(node)
        if isinstance(found, ast.Constant) and isinstance(found.value, str)
    ]


def codes_in_source() -> dict[str, str]:
    """Every code literal given to an error, a refusal or a ``code=``: code -> where."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.glob("*/**/*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] not in ("exchange", "consent", "adapters", "schemas") or "migrations" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "code" for target in node.targets
            ):
                values = _constants(node.value)
            elif isinstance(node, ast.Call):
                callee = node.func
                name = getattr(callee, "id", None) or getattr(callee, "attr", "")
                values = [
                    value
                    for keyword in node.keywords
                    if keyword.arg == "code"
                    for value in _constants(keyword.value)
                ]
                if name in RAISERS:
                    start = 0 if name == "Refusal" else 1
                    values += [
                        arg.value
                        for arg in node.args[start:]
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    ]
            else:
                continue
            for value in values:
                if CODE.match(value) and "_" in value:
                    found.setdefault(value, str(path.relative_to(ROOT)))
    return found


def every_code() -> set[str]:
    defaults = {error.code for error in ERRORS if isinstance(error.code, str)} | {
        field.default
        for error in ERRORS
        for field in getattr(error, "__dataclass_fields__", {}).values()
        if field.name == "code"
    }
    statuses = {f"packet_{s}" for s in PACKET_STATUSES} | {f"consent_{s}" for s in CONSENT_STATUSES}
    return set(codes_in_source()) | defaults | set(HTTP_CODES.values()) | statuses


def test_the_scan_finds_the_codes_raised_in_each_way():
    found = codes_in_source()
    assert {"not_the_recipient", "first_contact_recorded", "role_required"} <= set(found)
    assert {"token_expired", "report_too_small", "report_not_publishable"} <= set(found)


def test_every_code_has_a_text():
    assert sorted(every_code() - set(PROBLEM_TEXTS)) == []


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_text_is_in_the_language(app, language):
    with app.test_request_context():
        for code in PROBLEM_TEXTS:
            with force_locale("en"):
                english = problem_text(code)
            with force_locale(language):
                assert problem_text(code) != english, code


def test_a_withdrawn_consent_says_so_rather_than_its_state_in_general(app):
    with app.test_request_context(), force_locale("fi"):
        assert problem_text("consent_withdrawn") == "Suostumus on peruttu."


def test_an_unknown_code_reads_as_a_general_failure(app):
    with app.test_request_context(), force_locale("sv"):
        assert problem_text("no_such_code") == "Något gick fel."


def test_the_error_page_says_it_in_the_readers_language(app, people, http):
    consent = api_consent(http, people, approve=False)
    client = signed_in(app, "kalle.valmentaja", "en")
    html = client.get(f"/ui/consents/{consent['id']}/actions").get_data(as_text=True)
    response = client.post(
        f"/ui/consents/{consent['id']}/withdraw",
        data={"csrf_token": csrf(html), "reason": "Asiakas pyysi."},
        headers={"Accept-Language": "sv"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Samtycket väntar på godkännande." in page
    assert "Cannot" not in page
    assert "pending" not in page


def test_a_missing_page_says_so_in_finnish(app, people):
    client = signed_in(app, "kalle.valmentaja", "en")
    response = client.get(
        "/ui/packets/0d2c8f2e-9f0e-4d47-9a51-0d7f4b1f1b11", headers={"Accept-Language": "fi"}
    )
    assert response.status_code == 404
    assert "Luovutusta ei ole, tai organisaatiosi ei ole sen osapuoli." in response.get_data(
        as_text=True
    )
