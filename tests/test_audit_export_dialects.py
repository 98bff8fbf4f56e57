"""The auditor's CSV in both forms: the API's default for programs (unchanged: comma, no byte
order mark, field names) and Excel's (`dialect=excel` and the web UI's download: byte order
mark, semicolons, headers in the reader's language)."""

from __future__ import annotations

import csv
import io

import pytest

from exchange.audit import Actor, record, seal
from exchange.registry.models import User
from exchange.streams import DETAIL
from tests.webtools import PASSWORD, csrf, sign_in

BOM = b"\xef\xbb\xbf"
FIELDS = [
    "seq",
    "occurred_at",
    "request_id",
    "actor_organization",
    "actor_client",
    "actor_user",
    "action",
    "outcome",
    "resource_type",
    "resource_id",
    "client_ref",
    "basis_type",
    "basis_ref",
    "reason",
    "leaf_hash",
]
HEADERS = {
    "fi": [
        "Nro",
        "Aika (UTC)",
        "Pyynnön tunniste",
        "Tekijä (organisaatio)",
        "Tekijä (järjestelmä)",
        "Tekijä (henkilö)",
        "Toiminto",
        "Tulos",
        "Kohde (tyyppi)",
        "Kohde (tunniste)",
        "Asiakastunniste",
        "Peruste (tyyppi)",
        "Peruste (viite)",
        "Lisätiedot",
        "Lehden tiiviste",
    ],
    "sv": [
        "Nr",
        "Tid (UTC)",
        "Begärans id",
        "Aktör (organisation)",
        "Aktör (system)",
        "Aktör (person)",
        "Åtgärd",
        "Utfall",
        "Objekt (typ)",
        "Objekt (id)",
        "Klient-id",
        "Grund (typ)",
        "Grund (referens)",
        "Detaljer",
        "Lövets hashvärde",
    ],
    "en": [
        "No.",
        "Time (UTC)",
        "Request id",
        "Actor (organization)",
        "Actor (system)",
        "Actor (person)",
        "Action",
        "Outcome",
        "Target (type)",
        "Target (id)",
        "Client id",
        "Basis (type)",
        "Basis (reference)",
        "Details",
        "Leaf hash",
    ],
}
# Cells a spreadsheet would run as formulas, and one with the separator and letters beyond ASCII.
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"]
PLAIN_TEXT = "Äänekoski; Närpes, Österbotten"
NEUTRALIZED = sorted(["'" + reason for reason in FORMULAS] + [PLAIN_TEXT])


@pytest.fixture
def world(make_org, rt, session):
    org = make_org(
        "kisalli",
        users=[("aino.auditoija", ["auditor"]), ("kalle.valmentaja", ["staff"])],
    )
    session.get(User, "aino.auditoija").password_hash = rt.passwords.hash(PASSWORD)
    session.commit()
    with rt.db.transaction() as s:
        for reason in [*FORMULAS, PLAIN_TEXT]:
            record(
                s,
                Actor(organization="kisalli", username="kalle.valmentaja"),
                "consent.reject",
                reason=reason,
            )
    with rt.db.transaction() as s:
        seal(s, rt.keys)
    return org


def api_export(http, org, query, language=None):
    headers = org.client.headers("aino.auditoija")
    if language is not None:
        headers["Accept-Language"] = language
    return http.get(f"/v1/audit/events?action=consent.reject&{query}", headers=headers)


def web_export(app, accept_language, chosen=None):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    assert sign_in(client, "aino.auditoija").status_code == 302
    if chosen is not None:
        page = client.get("/ui/audit").get_data(as_text=True)
        form = {"lang": chosen, "next": "/ui/audit", "csrf_token": csrf(page)}
        assert client.post("/ui/language", data=form).status_code == 302
    return client.get("/ui/audit/export.csv?action=consent.reject")


def excel_rows(response):
    """The rows of an export in Excel's form, checking its byte order mark on the way."""
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith(BOM)
    text = data.decode("utf-8")[1:]
    assert "\ufeff" not in text  # one byte order mark, not one per chunk
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def details(rows):
    """The reasons of the exported events."""
    return sorted(row[FIELDS.index("reason")] for row in rows[1:])


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", [None, "fi", "sv"])
def test_the_default_csv_is_unchanged(http, world, language):
    response = api_export(http, world, "format=csv", language)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    data = response.get_data()
    assert not data.startswith(BOM)
    assert data.startswith(b"seq,occurred_at,request_id,")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == FIELDS  # whatever language is asked for
    assert all(len(row) == len(FIELDS) for row in rows)
    assert details(rows) == NEUTRALIZED


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("fi", "fi"),
        ("fi-FI,fi;q=0.9,en;q=0.5", "fi"),
        ("sv-FI", "sv"),
        ("en", "en"),
        ("de", "en"),
        (None, "en"),
    ],
)
def test_the_excel_dialect_has_a_bom_semicolons_and_localized_headers(
    http, world, accept_language, expected
):
    rows = excel_rows(api_export(http, world, "format=csv&dialect=excel", accept_language))
    assert rows[0] == HEADERS[expected]
    assert len(rows) == 1 + len(FORMULAS) + 1
    assert all(len(row) == len(FIELDS) for row in rows)
    assert {row[FIELDS.index("action")] for row in rows[1:]} == {"consent.reject"}
    assert {row[FIELDS.index("actor_user")] for row in rows[1:]} == {"kalle.valmentaja"}


def test_the_excel_dialect_keeps_formulas_from_running(http, world):
    rows = excel_rows(api_export(http, world, "format=csv&dialect=excel", "fi"))
    assert details(rows) == NEUTRALIZED
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize(
    "query",
    [
        "format=csv&dialect=lotus",
        "format=csv&dialect=",
        "format=json&dialect=excel",
        "format=jsonl&dialect=excel",
        "dialect=excel",
    ],
)
def test_an_unknown_or_misplaced_dialect_is_a_problem_naming_it(http, world, query):
    response = api_export(http, world, query)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == ["dialect"]


def test_the_dialect_is_in_the_api_document(http):
    document = http.get("/openapi.json").get_json()
    parameters = document["paths"]["/v1/audit/events"]["get"]["parameters"]
    dialect = next(p for p in parameters if p["name"] == "dialect")
    assert dialect["in"] == "query"
    assert dialect["schema"]["enum"] == ["excel"]
    assert "Accept-Language" in dialect.get("description", dialect["schema"].get("description"))


@pytest.mark.parametrize("dialect", [None, "excel"])
def test_an_export_failing_midway_ends_with_an_error_row_in_its_own_form(
    http, world, monkeypatch, dialect
):
    from exchange.audit.query import AuditQueries

    original = AuditQueries.export

    def failing(self, *given):
        body, mimetype = original(self, *given)

        def broken():
            yield next(body)
            raise RuntimeError("the database went away mid-export")

        return broken(), mimetype

    monkeypatch.setattr(AuditQueries, "export", failing)
    query = "format=csv" + (f"&dialect={dialect}" if dialect else "")
    response = api_export(http, world, query, "sv")
    assert response.status_code == 200  # the status line had gone out before the failure
    request_id = response.headers["X-Request-ID"]
    if dialect == "excel":
        rows = excel_rows(response)
        assert rows[0] == HEADERS["sv"]
    else:
        assert not response.get_data().startswith(BOM)
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
        assert rows[0] == FIELDS
    assert rows[-1] == ["#error", "export_failed", DETAIL, request_id]


# --- the web UI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_web_download_is_for_a_spreadsheet_in_the_pages_language(app, world, language):
    response = web_export(app, language)
    assert "attachment" in response.headers["Content-Disposition"]
    rows = excel_rows(response)
    assert rows[0] == HEADERS[language]
    assert details(rows) == NEUTRALIZED


def test_the_web_download_follows_the_language_chosen_on_the_page(app, world):
    rows = excel_rows(web_export(app, "fi", chosen="sv"))
    assert rows[0] == HEADERS["sv"]
