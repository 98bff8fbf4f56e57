"""The start page per role: each count links to a dated list naming the clients."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from consent.model import local_date
from exchange.registry.models import User
from tests.conftest import audit_rows, sign_packet
from tests.webtools import PASSWORD, signed_in

JOSE = "application/jose"
# Synthetic identity codes (individual numbers 900-999).
NAMED = "010190-900P"  # transferred and accepted: a first contact due, a period ending
WAITING = "020285-901W"  # a transfer waiting for an answer
PENDING = "030377-902A"  # a consent waiting for approval
LEFT = "040466-903Y"  # led by a worker who left: unassigned
CASEWORK = ("approvals", "waiting", "first_contacts", "periods_ending", "unassigned")


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[
            ("tuomas.sw", ["social_worker"]),
            ("terhi.staff", ["staff"]),
            ("timo.staff", ["staff"]),
            ("aino.auditor", ["auditor"]),
            ("sini.both", ["social_worker", "staff"]),
        ],
    )
    for user in session.query(User).all():
        user.password_hash = rt.passwords.hash(PASSWORD)
    session.commit()
    return {"provider": provider, "te": te}


def consent(http, people, hetu, approve=True):
    body = {
        "client": {"hetu": hetu},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": day(300),
        "method": "electronic_strong_auth",
        "approver_organization": "te-vs",
    }
    recorded = http.post(
        "/v1/consents", json=body, headers=people["provider"].client.headers("kalle.valmentaja")
    )
    assert recorded.status_code == 201, recorded.get_json()
    if approve:
        approved = http.post(
            f"/v1/consents/{recorded.get_json()['id']}/approve",
            headers=people["te"].client.headers("tuomas.sw"),
        )
        assert approved.status_code == 200
    return recorded.get_json()["id"]


def transfer(http, people, hetu):
    consent(http, people, hetu)
    body = {
        "client": {"hetu": hetu},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": day(14),
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": day(0),
                "scores": {"health": 6},
                "summary": "Motivated.",
            }
        ],
    }
    sent = http.post(
        "/v1/packets",
        data=sign_packet(people["provider"].packet_key, body),
        headers={**people["provider"].client.headers(), "Content-Type": JOSE},
    )
    assert sent.status_code == 201, sent.get_json()
    return sent.get_json()["id"]


def lookup(http, people, hetu, name=None):
    body = {"hetu": hetu} | ({"name": name} if name else {})
    found = http.post(
        "/v1/clients/lookup", json=body, headers=people["te"].client.headers("tuomas.sw")
    )
    assert found.status_code in (200, 201), found.get_json()
    return found.get_json()["id"]


@pytest.fixture
def work(http, people):
    """te-vs has one of each: a consent to approve, a transfer to answer, an accepted one
    whose first contact terhi.staff is to make, a period ending without a next step, and a
    client left without a worker."""
    te = people["te"].client
    named = lookup(http, people, NAMED, "Aada Esimerkki")
    accepted = transfer(http, people, NAMED)
    took = http.post(f"/v1/packets/{accepted}/accept", headers=te.headers("terhi.staff"))
    assert took.status_code == 200, took.get_json()
    period = http.post(
        "/v1/service-periods",
        json={
            "client": {"id": named},
            "service": "kuntouttava_tyotoiminta",
            "start": day(-100),
            "planned_end": day(10),
            "days_per_week": 3,
            "hours_per_day": 5,
        },
        headers=te.headers("tuomas.sw"),
    )
    assert period.status_code == 201, period.get_json()
    waiting = transfer(http, people, WAITING)
    pending = consent(http, people, PENDING, approve=False)
    left = lookup(http, people, LEFT)
    assigned = http.post(
        f"/v1/clients/{left}/lead", json={"worker": "timo.staff"}, headers=te.headers("tuomas.sw")
    )
    assert assigned.status_code == 200
    gone = http.post(
        "/v1/workers/timo.staff/deactivate",
        json={"successor": None},
        headers=te.headers("tuomas.sw"),
    )
    assert gone.status_code == 200, gone.get_json()
    return {
        "named": named,
        "accepted": accepted,
        "period": period.get_json()["id"],
        "waiting": waiting,
        "pending": pending,
        "left": left,
    }


def counts(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def links(page: str) -> dict[str, str]:
    return dict(re.findall(r'<li data-list="(\w+)"><a href="([^"]+)"', page))


def rows(page: str) -> list[tuple[str, str]]:
    """(item, client label) of each line of a list."""
    return re.findall(r'<tr data-item="([^"]+)">\s*<th scope="row" data-client>([^<]*)</th>', page)


def test_social_worker_counts_link_to_dated_lists_naming_the_clients(app, work):
    client = signed_in(app, "tuomas.sw")
    start = client.get("/ui/").get_data(as_text=True)
    shown = counts(start)
    assert set(shown) == set(CASEWORK)
    assert shown == dict.fromkeys(CASEWORK, 1)
    expected = {
        "approvals": (work["pending"], "030377-9***"),
        "waiting": (work["waiting"], "020285-9***"),
        "first_contacts": (work["accepted"], "Aada Esimerkki"),
        "periods_ending": (work["period"], "Aada Esimerkki"),
        "unassigned": (work["left"], "040466-9***"),
    }
    for name, href in links(start).items():
        response = client.get(href)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert rows(page) == [expected[name]], name
        assert len(rows(page)) == shown[name]
        # Never the full identity code.
        for hetu in (NAMED, WAITING, PENDING, LEFT):
            assert hetu not in page
    periods = client.get(links(start)["periods_ending"]).get_data(as_text=True)
    assert (today() + dt.timedelta(days=10)).strftime("%-d.%-m.%Y") in periods
    assert "Suunniteltu päättyminen" in periods


def test_lists_are_in_swedish_too(app, work):
    client = signed_in(app, "tuomas.sw")
    client.get("/ui/")
    with client.session_transaction() as session:
        session["lang"] = "sv"
    start = client.get("/ui/").get_data(as_text=True)
    assert "Samtycken som väntar på godkännande" in start
    page = client.get("/ui/lists/first-contacts").get_data(as_text=True)
    assert "Första kontakter som ska tas" in page
    assert "Klient" in page


def test_naming_a_client_on_a_list_is_an_audited_read(app, work, rt):
    client = signed_in(app, "tuomas.sw")
    before = len(audit_rows(rt, action="client.read", actor_user="tuomas.sw"))
    client.get("/ui/lists/unassigned")
    after = audit_rows(rt, action="client.read", actor_user="tuomas.sw")
    assert [event.client_ref for event in after[before:]] == [work["left"]]


def test_staff_sees_their_clients_and_what_is_due_not_the_queues(app, work):
    client = signed_in(app, "terhi.staff")
    start = client.get("/ui/").get_data(as_text=True)
    assert counts(start) == {"my_clients": 1, "due": 1}
    assert "/ui/lists/approvals" not in start
    page = client.get(links(start)["due"]).get_data(as_text=True)
    assert rows(page) == [(work["period"], "Aada Esimerkki")]  # the period ends first
    assert (today() + dt.timedelta(days=10)).strftime("%-d.%-m.%Y") in page
    for name in CASEWORK:
        assert client.get(f"/ui/lists/{name.replace('_', '-')}").status_code == 403


def test_several_roles_see_each_section_once(app, work):
    start = signed_in(app, "sini.both").get("/ui/").get_data(as_text=True)
    assert set(counts(start)) == {*CASEWORK, "my_clients", "due"}
    assert start.count('data-count="approvals"') == 1
    assert counts(start)["my_clients"] == 0


def test_auditor_sees_denials_verification_and_checkpoint_and_no_casework(app, work, http):
    # A refusal to find: staff may not approve.
    staff = signed_in(app, "terhi.staff")
    assert staff.get("/ui/lists/approvals").status_code == 403
    client = signed_in(app, "aino.auditor")
    start = client.get("/ui/").get_data(as_text=True)
    assert set(counts(start)) == {"denials"}
    assert 'data-verification="ok"' in start
    assert "data-checkpoint" in start
    assert "/ui/audit" in start
    page = client.get(links(start)["denials"]).get_data(as_text=True)
    assert len(rows(page)) == counts(start)["denials"] == 1
    assert "web.page" in page
    assert "terhi.staff" in page
    # Each refusal leads to the audit search, filtered to it.
    assert re.search(r'href="/ui/audit\?[^"]*outcome=denied[^"]*actor=terhi.staff', page)
    for name in CASEWORK:
        assert f"/ui/lists/{name.replace('_', '-')}" not in start
        assert client.get(f"/ui/lists/{name.replace('_', '-')}").status_code == 403
    # Its own refusals are there now, newest first.
    page = client.get(links(start)["denials"]).get_data(as_text=True)
    seqs = [int(seq) for seq, _ in rows(page)]
    assert len(seqs) == 1 + len(CASEWORK)
    assert seqs == sorted(seqs, reverse=True)


def test_people_without_the_role_are_refused_and_anonymous_sent_to_sign_in(app, work, rt):
    client = signed_in(app, "aino.auditor")
    assert client.get("/ui/lists/my-clients").status_code == 403
    assert audit_rows(rt, action="web.page", actor_user="aino.auditor", outcome="denied")
    assert signed_in(app, "tuomas.sw").get("/ui/lists/denials").status_code == 403
    anonymous = app.test_client().get("/ui/lists/approvals")
    assert anonymous.status_code == 302
    assert "/ui/login" in anonymous.headers["Location"]


def test_the_auditors_list_of_denials_names_no_client(app, work, http, people, rt):
    """A refusal about a named client shows the auditor the client's pseudonymous id, as the
    audit log does, and reads no client's record."""
    named = lookup(http, people, NAMED)
    from exchange import audit
    from exchange.audit import Actor

    with rt.db.transaction() as session:
        audit.record(
            session,
            Actor(organization="te-vs", username="terhi.staff"),
            "client.read",
            "denied",
            resource_type="client",
            resource_id=named,
            client_ref=named,
        )
    client = signed_in(app, "aino.auditor")
    start = client.get("/ui/").get_data(as_text=True)
    page = client.get(links(start)["denials"]).get_data(as_text=True)
    assert named in page
    assert "Aada Esimerkki" not in page
    assert "010190-9***" not in page
    assert not audit_rows(rt, action="client.read", actor_user="aino.auditor")
