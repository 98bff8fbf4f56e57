"""Web UI auditor pages (search, export, verification, proofs) and the client's access report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest

import exchange.web.pages_audit as pages_audit
from consent.model import local_date
from exchange.registry.models import User
from tests.conftest import audit_rows, grant_consent
from tests.test_audit import as_superuser
from tests.test_web_consents import assert_accessible
from tests.webtools import PASSWORD, give_passwords, signed_in

HETU = "010190-900P"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org, session, http, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[
            ("kalle.valmentaja", ["staff"]),
            ("aino.auditoija", ["auditor"]),
            ("liisa.sw", ["social_worker"]),
        ],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"]), ("anton.auditor", ["auditor"])],
    )
    outsider = make_org("outsider", kind="provider", users=[("olli.sw", ["social_worker"])])
    for username in ("kalle.valmentaja", "aino.auditoija", "liisa.sw", "tuomas.sw"):
        session.get(User, username).password_hash = rt.passwords.hash(PASSWORD)
    give_passwords(session, rt, ("anton.auditor", "olli.sw"))
    consent = grant_consent(
        http, provider, "kalle.valmentaja", te, "tuomas.sw", hetu=HETU, days=100
    )
    http.get(f"/v1/consents/{consent['id']}", headers=te.client.headers("tuomas.sw"))
    return {"provider": provider, "te": te, "outsider": outsider, "consent": consent}


def result_rows(html: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S) if body else []


def sequence_numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<th scope="row">(\d+)</th>', html)]


# --- search ---------------------------------------------------------------------------------


def test_auditor_sees_own_organization_and_its_consents(app, world, rt, http):
    # The outsider's own business: no event about kisalli's or te-vs's packets or consents.
    outsider = world["outsider"]
    assert http.get("/v1/consents", headers=outsider.client.headers("olli.sw")).status_code == 200
    client = signed_in(app, "aino.auditoija", "en")
    response = client.get("/ui/audit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_accessible(html)
    rows = result_rows(html)
    assert rows
    assert any("kalle.valmentaja" in row for row in rows)
    assert not any("olli.sw" in row or "anton.auditor" in row for row in rows)
    assert "/ui/packets" not in html
    assert HETU not in html
    # te-vs approved and read the consent kisalli recorded: events about kisalli's consent.
    approvals = result_rows(client.get("/ui/audit?action=consent.approve").get_data(as_text=True))
    assert len(approvals) == 1
    assert "tuomas.sw" in approvals[0]
    assert "te-vs" in approvals[0]
    records = client.get("/ui/audit?action=consent.record&outcome=allowed").get_data(as_text=True)
    assert len(result_rows(records)) == 1
    assert "consent.record" in result_rows(records)[0]
    by_te = result_rows(client.get("/ui/audit?organization=te-vs").get_data(as_text=True))
    assert by_te
    assert all("te-vs" in row and "kalle.valmentaja" not in row for row in by_te)
    # te-vs is the consent's recipient: its auditor sees the recording too, not the outsider.
    other = signed_in(app, "anton.auditor", "en").get("/ui/audit").get_data(as_text=True)
    assert any("tuomas.sw" in row for row in result_rows(other))
    assert any("kalle.valmentaja" in row for row in result_rows(other))
    assert not any("olli.sw" in row for row in result_rows(other))


def test_searches_are_audited_as_audit_read(app, world, rt):
    client = signed_in(app, "aino.auditoija", "en")
    client.get(f"/ui/audit?action=consent.record&client_id={world['consent']['client_id']}")
    searches = audit_rows(
        rt, action="audit.read", actor_user="aino.auditoija", resource_type="audit_events"
    )
    assert len(searches) == 1
    assert (searches[-1].actor_client, searches[-1].actor_organization) == ("web", "kisalli")
    assert json.loads(searches[-1].reason)["action"] == "consent.record"
    assert searches[-1].client_ref == world["consent"]["client_id"]


def test_times_are_finnish_and_searched_in_utc(app, world):
    assert pages_audit._utc("2026-07-01T12:00") == "2026-07-01T09:00:00+00:00"
    assert pages_audit._utc("2026-01-15T12:00") == "2026-01-15T10:00:00+00:00"
    client = signed_in(app, "aino.auditoija", "en")
    tomorrow = (dt.datetime.now(pages_audit.FINLAND) + dt.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    assert result_rows(client.get(f"/ui/audit?from={tomorrow}").get_data(as_text=True)) == []
    assert result_rows(client.get(f"/ui/audit?to={tomorrow}").get_data(as_text=True))
    bad = client.get("/ui/audit?from=yesterday&outcome=maybe")
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert_accessible(html)
    for name in ("from", "outcome"):
        control = re.search(rf'<(input|select) id="{name}"[^>]*>', html)
        assert control
        assert f"{name}-error" in control.group(0)
        assert f'id="{name}-error"' in html


def test_paging_with_the_next_cursor(app, world, monkeypatch):
    monkeypatch.setattr(pages_audit, "PAGE_SIZE", 2)
    client = signed_in(app, "aino.auditoija", "en")
    first = client.get("/ui/audit?outcome=allowed").get_data(as_text=True)
    assert len(sequence_numbers(first)) == 2
    link = re.search(r'href="([^"]*cursor=[^"]+)">Next page', first)
    assert link
    assert "outcome=allowed" in link.group(1)
    second = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert sequence_numbers(second)
    assert min(sequence_numbers(second)) > max(sequence_numbers(first))
    assert "First page" in second


def test_csv_export(app, world, rt):
    client = signed_in(app, "aino.auditoija", "en")
    page = client.get("/ui/audit?action=consent.record").get_data(as_text=True)
    link = re.search(r'href="([^"]*/ui/audit/export\.csv[^"]*)"', page)
    assert link
    exported = client.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    # For a spreadsheet, in the page's language (English here); tests/test_audit_export_dialects.py
    # has the other languages.
    text = exported.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows
    assert {row["Action"] for row in rows} == {"consent.record"}
    assert {row["Actor (organization)"] for row in rows} == {"kisalli"}
    searches = audit_rows(
        rt, action="audit.read", actor_user="aino.auditoija", resource_type="audit_events"
    )
    assert any(
        json.loads(search.reason).get("format") == "csv"
        and json.loads(search.reason).get("dialect") == "excel"
        for search in searches
    )


# --- verification, checkpoint, proof -------------------------------------------------------------


def test_verification_checkpoint_and_inclusion_proof(app, world, http):
    made = http.post(
        "/v1/audit/checkpoints", headers=world["provider"].client.headers("aino.auditoija")
    )
    assert made.status_code == 201
    checkpoint = made.get_json()
    client = signed_in(app, "aino.auditoija", "en")
    html = client.get("/ui/audit").get_data(as_text=True)
    assert "Verified: the log is intact" in html
    assert checkpoint["root_hash"] in html
    assert f"<td>{checkpoint['tree_size']}</td>" in html
    proof_link = re.search(r'href="(/ui/audit/events/(\d+)/proof)"', html)
    assert proof_link
    proof = client.get(proof_link.group(1))
    assert proof.status_code == 200
    page = proof.get_data(as_text=True)
    assert_accessible(page)
    assert "Checked: the proof leads" in page
    assert checkpoint["root_hash"] in page
    assert checkpoint["jws"] in page
    # Another organization's event is not theirs to prove.
    other = signed_in(app, "anton.auditor", "en")
    assert other.get(proof_link.group(1)).status_code == 404


def test_a_tampered_log_is_reported(app, world, rt, session):
    signed_in(app, "aino.auditoija", "en").get("/ui/audit")  # seals the log so far
    as_superuser(session, ["UPDATE audit_event SET outcome = 'denied' WHERE seq = 2"])
    session.commit()
    html = signed_in(app, "aino.auditoija", "en").get("/ui/audit").get_data(as_text=True)
    assert "Verification FAILED" in html
    assert "The first bad event is number 2." in html


def test_only_auditors(app, world, rt):
    for username in ("kalle.valmentaja", "liisa.sw"):
        client = signed_in(app, username, "en")
        for path in ("/ui/audit", "/ui/audit/export.csv", "/ui/audit/events/1/proof"):
            assert client.get(path).status_code == 403, (username, path)
    denied = audit_rows(rt, outcome="denied", actor_user="kalle.valmentaja", action="web.page")
    assert denied
    assert app.test_client().get("/ui/audit").status_code == 302


# --- the client's access report ------------------------------------------------------------------


def test_access_report_for_an_involved_social_worker_only(app, world, rt):
    client_id = world["consent"]["client_id"]
    url = f"/ui/clients/{client_id}/access-report"
    liisa = signed_in(app, "liisa.sw", "en")
    page = liisa.get(url)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Who has seen my data" in html
    assert HETU not in html
    finnish = liisa.get(url + "?lang=fi").get_data(as_text=True)
    assert "Kuka on nähnyt tietojani" in finnish
    assert audit_rows(rt, action="audit.read", resource_type="access_report", client_ref=client_id)
    assert signed_in(app, "olli.sw", "en").get(url).status_code == 404
    assert signed_in(app, "kalle.valmentaja", "en").get(url).status_code == 403
    assert signed_in(app, "aino.auditoija", "en").get(url).status_code == 403
