"""Web UI consent pages: record with a preview, field-tied errors, withdrawal, the receipt."""

from __future__ import annotations

import datetime as dt
import logging
import re
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from consent.model import local_date
from consent.texts import render_consent_text
from exchange.clients.models import Client
from exchange.consents.models import Consent
from exchange.registry.models import Organization
from tests.conftest import audit_rows
from tests.webtools import csrf, give_passwords, sign_in, signed_in

HETU = "010190-900P"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    outsider = make_org("outsider", kind="provider", users=[("olli.sw", ["social_worker"])])
    give_passwords(session, rt, ("kalle.valmentaja", "liisa.sw", "tuomas.sw", "olli.sw"))
    return {"provider": provider, "te": te, "outsider": outsider}


class _Structure(HTMLParser):
    """What the accessibility checks need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.described: list[str] = []
        self.header_cells: list[dict[str, str | None]] = []
        self.fieldsets: list[bool] = []  # has a legend, per open fieldset
        self.choices_outside_fieldset = 0
        self.fieldsets_without_legend = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if attributes.get("aria-describedby"):
            self.described.extend(attributes["aria-describedby"].split())
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label" and attributes.get("for"):
            self.label_for.add(attributes["for"])
        elif tag in ("input", "select", "textarea"):
            kind = attributes.get("type", "text")
            if kind not in ("hidden", "submit", "button"):
                self.controls.append(attributes)
            if kind in ("checkbox", "radio") and not self.fieldsets:
                self.choices_outside_fieldset += 1
        elif tag == "th":
            self.header_cells.append(attributes)
        elif tag == "fieldset":
            self.fieldsets.append(False)
        elif tag == "legend" and self.fieldsets:
            self.fieldsets[-1] = True

    def handle_endtag(self, tag):
        if tag == "fieldset" and self.fieldsets and not self.fieldsets.pop():
            self.fieldsets_without_legend += 1


def assert_accessible(page: str) -> None:
    """Labels for every field, legends for groups, tied descriptions, heading order, th scope."""
    found = _Structure()
    found.feed(page)
    assert found.headings[:1] == [1], "the page starts with its h1"
    assert found.headings.count(1) == 1
    for before, after in zip(found.headings, found.headings[1:], strict=False):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    for control in found.controls:
        assert control.get("id") in found.label_for, f"no label for {control}"
    assert not found.choices_outside_fieldset
    assert not found.fieldsets_without_legend
    missing = [ref for ref in found.described if ref not in found.ids]
    assert not missing, f"aria-describedby names missing ids {missing}"
    assert all(cell.get("scope") in ("col", "row") for cell in found.header_cells)


def consent_count(session) -> int:
    return session.execute(select(func.count()).select_from(Consent)).scalar_one()


def client_count(session) -> int:
    return session.execute(select(func.count()).select_from(Client)).scalar_one()


def form(page: str, **changes):
    data = {
        "csrf_token": csrf(page),
        "hetu": HETU,
        "decision": "permit",
        "grantor_type": "self",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment", "plan"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def api_consent(http, people, *, approve=True):
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        "approver_organization": "te-vs",
    }
    made = http.post(
        "/v1/consents", json=body, headers=people["provider"].client.headers("kalle.valmentaja")
    )
    assert made.status_code == 201
    consent = made.get_json()
    if approve:
        approved = http.post(
            f"/v1/consents/{consent['id']}/approve",
            headers=people["te"].client.headers("tuomas.sw"),
        )
        assert approved.status_code == 200
    return consent


def api_status(http, people, consent_id):
    return http.get(f"/v1/consents/{consent_id}", headers=people["te"].client.headers()).get_json()[
        "status"
    ]


# --- recording ------------------------------------------------------------------------------


def test_the_form_is_labelled_and_needs_sign_in(app, people):
    assert app.test_client().get("/ui/consents/new").status_code == 302
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert_accessible(html)
    for name in ("sources", "recipients", "categories", "purposes", "decision", "method"):
        assert f'id="{name}-group"' in html
    assert "plans, for example the client plan" in html  # plain-language category label
    kisalli = people["provider"].id
    assert f'value="{kisalli}"' in html


def test_preview_shows_the_exact_text_with_names_and_saves_nothing(app, people, session):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    consents, clients = consent_count(session), client_count(session)
    response = client.post("/ui/consents/new", data=form(page, preview="1"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    source, recipient = (session.get(Organization, o).name for o in ("kisalli", "te-vs"))
    expected = render_consent_text(
        "fi",
        decision="permit",
        grantor_type="self",
        grantor_name=None,
        sources=[source],
        recipients=[recipient],
        categories=["assessment", "plan"],
        purposes=["employment_services"],
        valid_from=today(),
        valid_until=today() + dt.timedelta(days=60),
    )
    assert str(escape(expected.text)) in html
    assert recipient in expected.text
    assert 'lang="fi"' in html
    # The summary: who may exchange what.
    assert re.search(
        rf'<th scope="row">{re.escape(source)}</th>\s*<td>{re.escape(recipient)}', html
    )
    assert "assessment of ability to work and function" in html
    assert_accessible(html)
    assert consent_count(session) == consents
    assert client_count(session) == clients
    assert not audit_rows(app.extensions["exchange"], action="client.lookup")


def test_record_saves_a_pending_permit_and_never_shows_the_identity_code(
    app, people, session, caplog
):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    before = consent_count(session)
    with caplog.at_level(logging.DEBUG):
        response = client.post("/ui/consents/new", data=form(page, record="1"))
    assert response.status_code == 303
    match = re.fullmatch(r".*/ui/consents/([0-9a-f-]{36})", response.headers["Location"])
    assert match
    assert consent_count(session) == before + 1
    row = session.get(Consent, match.group(1))
    assert (row.status, row.decision, row.recorded_by_user, row.recorded_by_org) == (
        "pending",
        "permit",
        "kalle.valmentaja",
        "kisalli",
    )
    assert row.categories == ["assessment", "plan"]
    assert row.language == "fi"
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 200
    for text in (
        response.get_data(as_text=True),
        str(response.headers),
        shown.get_data(as_text=True),
        client.get("/ui/").get_data(as_text=True),
        caplog.text,
    ):
        assert HETU not in text
        assert HETU.replace("-", "") not in text
    assert row.text in shown.get_data(as_text=True) or str(escape(row.text)) in shown.get_data(
        as_text=True
    )
    event = audit_rows(app.extensions["exchange"], action="consent.record")[-1]
    assert (event.actor_user, event.actor_client) == ("kalle.valmentaja", "web")


def test_a_ban_is_in_force_at_once(app, people, session):
    client = signed_in(app, "liisa.sw", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    response = client.post(
        "/ui/consents/new",
        data=form(page, decision="deny", method="verbal_witnessed", evidence_witness_name="Kim"),
    )
    assert response.status_code == 303
    row = session.get(Consent, response.headers["Location"].rsplit("/", 1)[1])
    assert (row.decision, row.status, row.evidence) == ("deny", "active", {"witness_name": "Kim"})


@pytest.mark.parametrize("button", ["record", "preview"])
def test_rule_breaks_are_tied_to_their_fields_and_nothing_is_saved(app, people, session, button):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    consents, clients = consent_count(session), client_count(session)
    response = client.post(
        "/ui/consents/new",
        data=form(
            page,
            method="signed_paper",
            valid_until=(today() - dt.timedelta(days=1)).isoformat(),
            **{button: "1"},
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert_accessible(html)
    for field, message in (
        ("evidence_reference", "Give the reference of the signed paper form."),
        ("valid_until", "The end date must not be in the past."),
    ):
        control = re.search(rf'<input id="{field}"[^>]*>', html)
        assert control, field
        assert f"{field}-error" in control.group(0)
        assert 'aria-invalid="true"' in control.group(0)
        error = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
        assert error
        assert message in error.group(1)
        assert f'href="#{field}"' in html  # the error summary links to the field
    assert "Preview: the text" not in html
    assert consent_count(session) == consents
    assert client_count(session) == clients


def test_missing_and_malformed_input(app, people, session):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    before = consent_count(session)
    empty = client.post(
        "/ui/consents/new",
        data={"csrf_token": csrf(page), "grantor_type": "self", "record": "1"},
    )
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    for field in ("hetu", "decision", "sources", "recipients", "categories", "purposes"):
        assert f'id="{field}-error"' in html, field
    assert 'href="#sources-0"' in html
    group = re.search(r'<fieldset id="sources-group"[^>]*>', html)
    assert group
    assert "sources-error" in group.group(0)
    bad = client.post(
        "/ui/consents/new", data=form(page, hetu="010190-900X", valid_from="31.2.2026", record="1")
    )
    assert bad.status_code == 422
    assert 'id="hetu-error"' in bad.get_data(as_text=True)
    assert 'id="valid_from-error"' in bad.get_data(as_text=True)
    guardian = client.post("/ui/consents/new", data=form(page, grantor_type="guardian", record="1"))
    assert guardian.status_code == 422
    assert "Give the name of the guardian" in guardian.get_data(as_text=True)
    assert 'id="grantor_name-error"' in guardian.get_data(as_text=True)
    assert consent_count(session) == before


def test_recording_needs_the_csrf_token(app, people, session):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    data = form(page, record="1")
    del data["csrf_token"]
    before = consent_count(session)
    assert client.post("/ui/consents/new", data=data).status_code == 400
    assert consent_count(session) == before


# --- withdrawal and receipt -------------------------------------------------------------------


def test_withdraw_needs_a_reason_then_takes_effect(app, people, http):
    consent = api_consent(http, people)
    client = signed_in(app, "kalle.valmentaja", "en")
    actions = client.get(f"/ui/consents/{consent['id']}/actions")
    assert actions.status_code == 200
    html = actions.get_data(as_text=True)
    assert_accessible(html)
    assert f"/ui/consents/{consent['id']}/receipt" in html
    assert f"/ui/consents/{consent['id']}/withdraw" in html
    assert "data-client-link=" in html  # the page names whose consent it is
    url = f"/ui/consents/{consent['id']}/withdraw"
    for reason in ("", "  ", "x"):
        refused = client.post(url, data={"csrf_token": csrf(html), "reason": reason})
        assert refused.status_code == 422
        page = refused.get_data(as_text=True)
        assert re.search(r'<textarea id="reason"[^>]*aria-describedby="[^"]*reason-error', page)
        assert_accessible(page)
    assert api_status(http, people, consent["id"]) == "active"
    assert client.post(url, data={"reason": "The client asked."}).status_code == 400
    assert api_status(http, people, consent["id"]) == "active"
    done = client.post(url, data={"csrf_token": csrf(html), "reason": "The client asked."})
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/ui/consents/{consent['id']}/actions")
    assert api_status(http, people, consent["id"]) == "withdrawn"
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'role="status">The consent was withdrawn. It no longer allows sharing.<' in after
    assert f"/ui/consents/{consent['id']}/withdraw" not in after
    event = audit_rows(app.extensions["exchange"], action="consent.withdraw")[-1]
    assert (event.actor_user, event.actor_client, event.reason) == (
        "kalle.valmentaja",
        "web",
        "The client asked.",
    )


def test_withdrawing_a_pending_consent_is_a_conflict(app, people, http):
    consent = api_consent(http, people, approve=False)
    client = signed_in(app, "kalle.valmentaja", "en")
    html = client.get(f"/ui/consents/{consent['id']}/actions").get_data(as_text=True)
    assert f"/ui/consents/{consent['id']}/withdraw" not in html
    response = client.post(
        f"/ui/consents/{consent['id']}/withdraw",
        data={"csrf_token": csrf(html), "reason": "The client asked."},
    )
    assert response.status_code == 409
    assert api_status(http, people, consent["id"]) == "pending"


def test_receipt_page(app, people, http, session):
    consent = api_consent(http, people)
    client = signed_in(app, "tuomas.sw", "en")
    response = client.get(f"/ui/consents/{consent['id']}/receipt")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="fi">' in html
    assert "Kuitti suostumuksesta" in html
    assert session.get(Organization, "te-vs").name in html
    assert HETU not in html
    assert audit_rows(
        app.extensions["exchange"], action="consent.read", resource_type="consent_receipt"
    )


def test_other_organizations_get_404(app, people, http):
    consent = api_consent(http, people)
    client = signed_in(app, "olli.sw", "en")
    page = client.get("/ui/").get_data(as_text=True)
    for path in ("actions", "receipt"):
        assert client.get(f"/ui/consents/{consent['id']}/{path}").status_code == 404
    withdraw = client.post(
        f"/ui/consents/{consent['id']}/withdraw",
        data={"csrf_token": csrf(page), "reason": "Not mine to withdraw."},
    )
    assert withdraw.status_code == 404
    assert api_status(http, people, consent["id"]) == "active"


# --- what the approver sees ---------------------------------------------------------------------


def recorded(http, people, **changes):
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "language": "fi",
        "approver_organization": "te-vs",
        **changes,
    }
    made = http.post(
        "/v1/consents", json=body, headers=people["provider"].client.headers("kalle.valmentaja")
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def finnish(app, username):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def test_the_approver_sees_how_a_paper_consent_was_given_and_by_whom(app, people, http, session):
    consent = recorded(
        http,
        people,
        method="signed_paper",
        evidence={"reference": "ARK-2026/0917"},
        grantor={"type": "guardian", "name": "Maija Meikäläinen"},
    )
    client = finnish(app, "tuomas.sw")
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert '<html lang="fi">' in page
    assert (
        '<th scope="row">Miten suostumus annettiin</th>'
        '<td data-method="signed_paper">Allekirjoitetulla paperilomakkeella</td>'
    ) in page
    assert '<td data-evidence="reference">ARK-2026/0917</td>' in page
    assert 'data-evidence="witness"' not in page
    assert '<td data-grantor="guardian">Huoltaja: Maija Meikäläinen</td>' in page
    assert 'data-recorder="kisalli/kalle.valmentaja">kalle.valmentaja (Test organization 1)' in page
    row = session.get(Consent, consent["id"])
    assert f"<span data-text-version>{row.text_version}</span>" in page
    # The preview of the recording form: the client's text and the exchanges it allows.
    assert str(escape(row.text)) in page
    assert '<th scope="row">Test organization 1</th>' in page  # the exchanges table
    assert '<tr data-event="recorded">' in page
    assert '<tr data-event="approved">' not in page

    approved = client.post(f"/ui/consents/{consent['id']}/approve", data={"csrf_token": csrf(page)})
    assert approved.status_code == 302
    after = client.get(approved.headers["Location"]).get_data(as_text=True)
    assert '<tr data-event="approved">' in after
    assert "<td>Hyväksytty</td>" in after
    assert "<td>tuomas.sw (Test organization 2)</td>" in after  # te-vs, by its name


def test_a_witnessed_consent_shows_the_witness_in_swedish(app, people, http):
    consent = recorded(
        http,
        people,
        method="verbal_witnessed",
        evidence={"witness_name": "Vera Vittne"},
        grantor={"type": "self"},
    )
    client = finnish(app, "tuomas.sw")
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    client.post("/ui/language", data={"csrf_token": csrf(page), "lang": "sv"})
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert '<td data-method="verbal_witnessed">Muntligt i närvaro av ett vittne</td>' in page
    assert '<td data-evidence="witness">Vera Vittne</td>' in page
    assert 'data-evidence="reference"' not in page
    assert '<td data-grantor="self">Klienten själv</td>' in page
    assert "Historik" in page
    assert "<td>Registrerat</td>" in page
