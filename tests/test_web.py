"""The web UI: sign-in, lockout, cookies, CSRF, languages, roles and organization boundaries."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from consent.model import local_date
from exchange.registry.models import User
from tests.conftest import audit_rows
from tests.webtools import PASSWORD, csrf, give_passwords, sign_in


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"]), ("terhi.staff", ["staff"])],
    )
    outsider = make_org("outsider", kind="provider", users=[("olli.sw", ["social_worker"])])
    give_passwords(
        session, rt, ("kalle.valmentaja", "liisa.sw", "tuomas.sw", "terhi.staff", "olli.sw")
    )
    return {"provider": provider, "te": te, "outsider": outsider}


def record_consent(http, org, user, approver="te-vs"):
    body = {
        "client": {"hetu": "010190-900P"},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        "approver_organization": approver,
    }
    response = http.post("/v1/consents", json=body, headers=org.client.headers(user))
    assert response.status_code == 201
    return response.get_json()


def test_sign_in_page_is_finnish_by_default_and_swedish_on_request(app, people):
    client = app.test_client()
    finnish = client.get("/ui/login").get_data(as_text=True)
    assert '<html lang="fi">' in finnish
    assert "Kirjaudu sisään" in finnish
    swedish = client.get("/ui/login", headers={"Accept-Language": "sv-FI,sv;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="sv">' in swedish
    assert "Logga in" in swedish


def test_sign_in_sets_a_protected_cookie(app, people):
    client = app.test_client()
    response = sign_in(client, "liisa.sw")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/ui/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "liisa.sw" not in cookie or "." in cookie  # signed, not a bare username
    assert client.get("/ui/").status_code == 200


def test_secure_cookie_when_configured(app_config):
    from exchange import create_app
    from tests.conftest import rolled_back

    secure_app = create_app({**app_config, "COOKIE_SECURE": True})
    with rolled_back(secure_app):
        response = secure_app.test_client().get("/ui/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_wrong_password_and_lockout(app, people):
    client = app.test_client()
    for _ in range(5):
        wrong = sign_in(client, "liisa.sw", "wrong password!")
        assert wrong.status_code == 401
        assert "Väärä käyttäjätunnus tai salasana" in wrong.get_data(as_text=True)
    locked = sign_in(client, "liisa.sw")  # right password, but locked
    assert locked.status_code == 429
    assert "minuutin" in locked.get_data(as_text=True)
    assert client.get("/ui/").status_code == 302


def test_unknown_user_looks_like_a_wrong_password(app, people):
    response = sign_in(app.test_client(), "nobody.here")
    assert response.status_code == 401


def test_forms_need_the_csrf_token(app, people, http):
    client = app.test_client()
    missing = client.post("/ui/login", data={"username": "liisa.sw", "password": PASSWORD})
    assert missing.status_code == 400
    assert client.get("/ui/").status_code == 302
    consent = record_consent(http, people["provider"], "kalle.valmentaja")
    sign_in(client, "tuomas.sw")
    forged = client.post(f"/ui/consents/{consent['id']}/approve", data={})
    assert forged.status_code == 400
    status = http.get(
        f"/v1/consents/{consent['id']}", headers=people["te"].client.headers()
    ).get_json()["status"]
    assert status == "pending"


def test_social_worker_approves_on_the_start_page_path(app, people, http, rt):
    consent = record_consent(http, people["provider"], "kalle.valmentaja")
    client = app.test_client()
    sign_in(client, "tuomas.sw")
    start = client.get("/ui/").get_data(as_text=True)
    assert 'href="/ui/lists/approvals"' in start
    waiting = client.get("/ui/lists/approvals").get_data(as_text=True)
    assert f"/ui/consents/{consent['id']}" in waiting
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert "Hyväksy" in page
    approved = client.post(f"/ui/consents/{consent['id']}/approve", data={"csrf_token": csrf(page)})
    assert approved.status_code == 302
    status = http.get(
        f"/v1/consents/{consent['id']}", headers=people["te"].client.headers()
    ).get_json()["status"]
    assert status == "active"
    shown = client.get(approved.headers["Location"]).get_data(as_text=True)
    assert '<p class="notice" role="status">Hyväksyit suostumuksen.</p>' in shown
    # Said once: the message is gone on the next visit.
    again = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert "Hyväksyit suostumuksen." not in again
    event = audit_rows(rt, action="consent.approve")[-1]
    assert (event.actor_user, event.actor_client, event.actor_organization) == (
        "tuomas.sw",
        "web",
        "te-vs",
    )


def test_rejecting_says_so_in_swedish_too(app, people, http):
    consent = record_consent(http, people["provider"], "kalle.valmentaja")
    client = app.test_client()
    sign_in(client, "tuomas.sw")
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    client.post("/ui/language", data={"csrf_token": csrf(page), "lang": "sv"})
    rejected = client.post(
        f"/ui/consents/{consent['id']}/reject",
        data={"csrf_token": csrf(page), "reason": "The client changed their mind."},
    )
    assert rejected.status_code == 302
    status = http.get(
        f"/v1/consents/{consent['id']}", headers=people["te"].client.headers()
    ).get_json()["status"]
    assert status == "rejected"
    shown = client.get(rejected.headers["Location"]).get_data(as_text=True)
    assert '<p class="notice" role="status">Du avslog samtycket.</p>' in shown


def test_four_eyes_is_shown_and_enforced(app, people, http):
    consent = record_consent(http, people["provider"], "liisa.sw", approver="kisalli")
    client = app.test_client()
    sign_in(client, "liisa.sw")
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert "neljän silmän" in page
    assert f"/ui/consents/{consent['id']}/approve" not in page
    refused = client.post(f"/ui/consents/{consent['id']}/approve", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403


def test_staff_cannot_approve(app, people, http):
    consent = record_consent(http, people["provider"], "kalle.valmentaja")
    client = app.test_client()
    sign_in(client, "terhi.staff")
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert "Vain sosiaalityöntekijä" in page
    assert (
        client.post(
            f"/ui/consents/{consent['id']}/approve", data={"csrf_token": csrf(page)}
        ).status_code
        == 403
    )


def test_other_organizations_get_404_in_the_ui_too(app, people, http, rt):
    consent = record_consent(http, people["provider"], "kalle.valmentaja")
    client = app.test_client()
    sign_in(client, "olli.sw")
    assert client.get(f"/ui/consents/{consent['id']}").status_code == 404
    assert audit_rows(rt, outcome="denied", actor_user="olli.sw")


def test_idle_session_ends(app, people):
    client = app.test_client()
    sign_in(client, "liisa.sw")
    with client.session_transaction() as stored:
        stored["seen"] = int(time.time()) - 31 * 60
    response = client.get("/ui/")
    assert response.status_code == 302
    assert "/ui/login" in response.headers["Location"]


def test_deactivated_user_is_signed_out(app, people, session):
    client = app.test_client()
    sign_in(client, "liisa.sw")
    session.get(User, "liisa.sw").active = False
    session.commit()
    assert client.get("/ui/").status_code == 302


def test_no_open_redirect_after_sign_in(app, people):
    client = app.test_client()
    page = client.get("/ui/login?next=https://evil.example/").get_data(as_text=True)
    response = client.post(
        "/ui/login",
        data={
            "username": "liisa.sw",
            "password": PASSWORD,
            "csrf_token": csrf(page),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["Location"].endswith("/ui/")


def test_language_switch(app, people):
    client = app.test_client()
    sign_in(client, "liisa.sw")
    page = client.get("/ui/").get_data(as_text=True)
    client.post("/ui/language", data={"csrf_token": csrf(page), "lang": "sv", "next": "/ui/"})
    swedish = client.get("/ui/").get_data(as_text=True)
    assert '<html lang="sv">' in swedish
    assert "Vad som väntar på dig" in swedish
    client.post("/ui/language", data={"csrf_token": csrf(swedish), "lang": "en", "next": "/ui/"})
    assert "What needs you" in client.get("/ui/").get_data(as_text=True)


def test_sign_out(app, people):
    client = app.test_client()
    sign_in(client, "liisa.sw")
    page = client.get("/ui/").get_data(as_text=True)
    client.post("/ui/logout", data={"csrf_token": csrf(page)})
    assert client.get("/ui/").status_code == 302
