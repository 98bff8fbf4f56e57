"""A whole story, then a search for every identity code it used: in the database (every
table, and on SQLite the files themselves) and in every log line. None may be found.

The story: look-ups (one with the client's name), a consent, a packet, a read, the client's
record and its revealed identity code, wrong and mistyped codes (refused), and an auditor who
searches by identity code instead of the opaque id, over the API and in the web UI, with
exports. The client's name is searched for in the database too: it is stored only encrypted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from consent.identifiers import hetu_check_char
from consent.model import local_date
from exchange import create_app
from exchange.audit import seal
from exchange.registry.models import User
from tests.conftest import ISSUER, org_factory, sign_packet
from tests.webtools import PASSWORD, sign_in


def hetu(ddmmyy: str, individual: str) -> str:
    return f"{ddmmyy}-{individual}{hetu_check_char(ddmmyy + individual)}"


CLIENT = hetu("130371", "951")  # looked up, consented, sent in a packet
SECOND = hetu("280288", "962")  # only looked up
UNKNOWN = hetu("010101", "973")  # searched for by the auditor; nobody has it
MISTYPED = CLIENT[:-1] + ("A" if CLIENT[-1] != "A" else "B")  # a wrong check character
CODES = [CLIENT, SECOND, UNKNOWN, MISTYPED]
NAME = "Ilona Harjoitusnimi"  # given with CLIENT's look-up


@pytest.fixture
def story_app(committed_database: str, keys_dir: Path) -> Iterator[Any]:
    application = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": committed_database,
            "REDIS_URL": None,
            "KEYS_DIR": str(keys_dir),
            "ISSUER": ISSUER,
            "RATE_LIMIT": "100000/minute",
            "ARGON2_PROFILE": "cheapest",
        }
    )
    yield application
    # Its connections are closed before the database is dropped (no ResourceWarning later).
    application.extensions["exchange"].db.engine.dispose()


def test_no_identity_code_in_the_database_or_any_log_line(
    story_app: Any, committed_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = story_app.test_client()
    rt = story_app.extensions["exchange"]
    make = org_factory(rt, http)
    provider = make(
        "story-provider", users=[("sam.staff", ["staff"]), ("sara.sw", ["social_worker"])]
    )
    agency = make(
        "story-agency",
        kind="employment_services",
        users=[("tea.sw", ["social_worker"]), ("aud.itor", ["auditor"])],
    )
    with rt.db.transaction() as session:
        session.get(User, "aud.itor").password_hash = rt.passwords.hash(PASSWORD)

    ids = []
    for body in ({"hetu": CLIENT, "name": NAME}, {"hetu": SECOND}):
        looked = http.post(
            "/v1/clients/lookup", json=body, headers=provider.client.headers("sam.staff")
        )
        assert looked.status_code == 200
        ids.append(looked.get_json()["id"])
    refused = http.post(
        "/v1/clients/lookup", json={"hetu": MISTYPED}, headers=provider.client.headers("sam.staff")
    )
    assert refused.status_code == 422
    until = (local_date(dt.datetime.now(dt.UTC)) + dt.timedelta(days=90)).isoformat()
    consent = http.post(
        "/v1/consents",
        json={
            "client": {"hetu": CLIENT},
            "grantor": {"type": "self"},
            "decision": "permit",
            "sources": ["story-provider"],
            "recipients": ["story-agency"],
            "categories": ["plan"],
            "purposes": ["employment_services"],
            "valid_until": until,
            "method": "electronic_strong_auth",
            "language": "fi",
            "approver_organization": "story-agency",
        },
        headers=provider.client.headers("sam.staff"),
    )
    assert consent.status_code == 201
    approved = http.post(
        f"/v1/consents/{consent.get_json()['id']}/approve", headers=agency.client.headers("tea.sw")
    )
    assert approved.status_code == 200
    payload = {
        "client": {"hetu": CLIENT},
        "from": {"organization": "story-provider", "worker": "sam.staff"},
        "to": {"organization": "story-agency"},
        "kind": "information",
        "purpose": "employment_services",
        "sections": [{"type": "plan", "kind": "employment_plan", "goals": [{"text": "Work"}]}],
    }
    sent = http.post(
        "/v1/packets",
        data=sign_packet(provider.packet_key, payload),
        headers={**provider.client.headers(), "Content-Type": "application/jose"},
    )
    assert sent.status_code == 201
    read = http.get(f"/v1/packets/{sent.get_json()['id']}", headers=agency.client.headers("tea.sw"))
    assert read.status_code == 200
    assert read.get_json()["sections"]  # the content is there, encrypted at rest
    record = http.get(f"/v1/clients/{ids[0]}", headers=agency.client.headers("tea.sw"))
    assert record.get_json()["name"] == NAME
    revealed = http.post(f"/v1/clients/{ids[0]}/reveal", headers=agency.client.headers("tea.sw"))
    assert revealed.get_json()["hetu"] == CLIENT  # the answer has it; no log line or event may

    with rt.db.transaction() as session:
        seal(session, keys=rt.keys)
    auditor = agency.client.headers("aud.itor")
    for code in (CLIENT, UNKNOWN, MISTYPED, CLIENT.lower()):
        searched = http.get("/v1/audit/events", query_string={"client_id": code}, headers=auditor)
        assert searched.status_code == 200
    found = http.get("/v1/audit/events", query_string={"client_id": CLIENT}, headers=auditor)
    assert found.get_json()["items"], "a search by identity code finds the client's events"
    assert all(item["client_ref"] != CLIENT for item in found.get_json()["items"])
    exported = http.get(
        "/v1/audit/events", query_string={"client_id": CLIENT, "format": "csv"}, headers=auditor
    )
    assert exported.status_code == 200
    assert not _mentions(exported.get_data(as_text=True), CLIENT)  # read to its end, as a
    exported.close()  # server would, so the stream's transaction ends
    web = story_app.test_client()
    assert sign_in(web, "aud.itor").status_code == 302
    for code in (CLIENT, UNKNOWN):
        assert web.get("/ui/audit", query_string={"client_id": code}).status_code == 200
        export = web.get("/ui/audit/export.csv", query_string={"client_id": code})
        assert export.status_code == 200
        export.get_data()
        export.close()

    leaks = _in_database(committed_database) + _in_logs(caplog.records)
    assert leaks == []
    assert _in_database(committed_database, [NAME]) == [], "the name is stored only encrypted"


def _variants(code: str) -> set[str]:
    return {code, code.lower(), code.replace("-", "")}


def _mentions(text: str, code: str) -> bool:
    return any(variant in text for variant in _variants(code))


def _in_database(url: str, codes: list[str] = CODES) -> list[str]:
    found = []
    engine = create_engine(url)
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"'))  # schema names
            for row in rows:
                cells = " ".join(str(cell) for cell in row)
                found += [f"{table}: {code}" for code in codes if _mentions(cells, code)]
    engine.dispose()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                raw = file.read_bytes()
                found += [
                    f"{file.name}: {code}"
                    for code in codes
                    if any(variant.encode() in raw for variant in _variants(code))
                ]
    return found


def _in_logs(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        line = f"{record.getMessage()} {record.__dict__}"
        found += [f"log {record.name}: {code}" for code in CODES if _mentions(line, code)]
    return found
