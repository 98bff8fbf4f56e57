"""The auditor API, proofs, the client's access report and retention, through HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import text

from consent.model import local_date
from exchange.audit import merkle, seal
from exchange.background import run_round
from tests.conftest import audit_rows, grant_consent, sign_packet

HETU = "010190-900P"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org, http):
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
        users=[
            ("terhi.asiantuntija", ["staff"]),
            ("tuomas.sw", ["social_worker"]),
            ("anton.auditor", ["auditor"]),
        ],
    )
    outsider = make_org(
        "outsider",
        kind="provider",
        users=[("olli.sw", ["social_worker"]), ("otto.aud", ["auditor"])],
    )
    consent = grant_consent(
        http,
        provider,
        "kalle.valmentaja",
        te,
        "tuomas.sw",
        hetu=HETU,
        categories=("assessment", "contact_persons"),
        days=100,
    )
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs", "worker": "terhi.asiantuntija"},
        "kind": "information",
        "purpose": "employment_services",
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": today().isoformat(),
                "scores": {"health": 5},
            },
            {"type": "contact_persons", "persons": [{"name": "Kalle Valmentaja", "role": "coach"}]},
        ],
    }
    sent = http.post(
        "/v1/packets",
        data=sign_packet(provider.packet_key, payload),
        headers={**provider.client.headers(), "Content-Type": "application/jose"},
    ).get_json()
    http.get(f"/v1/packets/{sent['id']}", headers=te.client.headers("terhi.asiantuntija"))
    return {
        "provider": provider,
        "te": te,
        "outsider": outsider,
        "client_id": consent["client_id"],
        "packet_id": sent["id"],
    }


def auditor(world, org="provider"):
    user = {"provider": "aino.auditoija", "te": "anton.auditor", "outsider": "otto.aud"}[org]
    return world[org].client.headers(user)


def sealed(rt):
    with rt.db.transaction() as session:
        seal(session, rt.keys)


# --- search and export ----------------------------------------------------------------------


def test_auditor_searches_own_organization_in_a_stable_order(http, world, rt):
    sealed(rt)
    page = http.get("/v1/audit/events?limit=3", headers=auditor(world)).get_json()
    assert len(page["items"]) == 3
    assert all(item["actor_organization"] == "kisalli" for item in page["items"])
    seqs = [item["seq"] for item in page["items"]]
    assert seqs == sorted(seqs)
    rest = http.get(
        f"/v1/audit/events?limit=1000&cursor={page['next_cursor']}", headers=auditor(world)
    ).get_json()
    assert rest["items"][0]["seq"] > seqs[-1]
    assert HETU not in json.dumps(page) + json.dumps(rest)


def test_filters(http, world, rt):
    sealed(rt)
    headers = auditor(world)
    sends = http.get("/v1/audit/events?action=packet.send", headers=headers).get_json()["items"]
    assert {e["action"] for e in sends} == {"packet.send"}
    assert {e["client_ref"] for e in sends} == {world["client_id"]}
    by_client = http.get(
        f"/v1/audit/events?client_id={world['client_id']}", headers=headers
    ).get_json()["items"]
    assert by_client
    assert all(e["client_ref"] == world["client_id"] for e in by_client)
    by_actor = http.get("/v1/audit/events?actor=kalle.valmentaja", headers=headers).get_json()[
        "items"
    ]
    assert {e["actor_user"] for e in by_actor} == {"kalle.valmentaja"}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert http.get(f"/v1/audit/events?from={future}", headers=headers).get_json()["items"] == []
    assert http.get(f"/v1/audit/events?to={future}", headers=headers).get_json()["items"]
    # Another organization's events in the scope: te-vs read the packet kisalli sent.
    other = http.get("/v1/audit/events?organization=te-vs", headers=headers).get_json()["items"]
    assert {e["actor_organization"] for e in other} == {"te-vs"}
    assert ("packet.read", world["packet_id"]) in {(e["action"], e["resource_id"]) for e in other}
    none = http.get("/v1/audit/events?organization=outsider", headers=headers).get_json()
    assert none == {"items": [], "next_cursor": None}
    assert http.get("/v1/audit/events?outcome=maybe", headers=headers).status_code == 422


def test_denied_accesses_are_in_the_log(http, world, rt):
    outsider = world["outsider"]
    assert (
        http.get(f"/v1/packets/{world['packet_id']}", headers=outsider.client.headers()).status_code
        == 404
    )
    sealed(rt)
    denied = http.get(
        "/v1/audit/events?outcome=denied&action=packet.read", headers=auditor(world, "outsider")
    )
    assert [e["resource_id"] for e in denied.get_json()["items"]] == [world["packet_id"]]


def test_csv_and_jsonl_exports_stream_every_match(http, world, rt):
    sealed(rt)
    everything = http.get("/v1/audit/events?limit=1000", headers=auditor(world)).get_json()["items"]
    exported = http.get("/v1/audit/events?format=csv", headers=auditor(world))
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [int(row["seq"]) for row in rows][: len(everything)] == [e["seq"] for e in everything]
    lines = (
        http.get("/v1/audit/events?format=jsonl", headers=auditor(world))
        .get_data(as_text=True)
        .splitlines()
    )
    assert [json.loads(line)["seq"] for line in lines][: len(everything)] == [
        e["seq"] for e in everything
    ]


def test_csv_cells_cannot_become_formulas(http, world, rt):
    from exchange.audit import Actor, record

    with rt.db.transaction() as session:
        record(
            session,
            Actor(organization="kisalli"),
            "consent.reject",
            reason='=HYPERLINK("http://x")',
        )
    sealed(rt)
    exported = http.get("/v1/audit/events?format=csv&action=consent.reject", headers=auditor(world))
    row = next(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert row["reason"].startswith("'=")


def test_searches_are_audited_and_need_an_auditor(http, world, rt):
    http.get("/v1/audit/events?action=packet.read", headers=auditor(world))
    searches = audit_rows(rt, action="audit.read", actor_user="aino.auditoija")
    assert searches
    assert "packet.read" in searches[-1].reason
    staff = http.get(
        "/v1/audit/events", headers=world["provider"].client.headers("kalle.valmentaja")
    )
    assert staff.status_code == 403
    assert staff.get_json()["code"] == "role_required"
    assert (
        http.get("/v1/audit/events", headers=world["provider"].client.headers()).status_code == 403
    )


def test_audit_scope_is_required(http, make_org):
    org = make_org("no-audit", scopes=["consents:read"], users=[("ada.aud", ["auditor"])])
    response = http.get("/v1/audit/events", headers=org.client.headers("ada.aud"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"


# --- verification, checkpoints and proofs ------------------------------------------------------


def test_verify_and_checkpoints(http, world):
    verified = http.get("/v1/audit/verify", headers=auditor(world)).get_json()
    assert verified["ok"] is True
    assert verified["first_bad_seq"] is None
    made = http.post("/v1/audit/checkpoints", headers=auditor(world))
    assert made.status_code == 201
    listed = http.get("/v1/audit/checkpoints", headers=auditor(world)).get_json()["items"]
    assert listed[0]["tree_size"] == made.get_json()["tree_size"]
    from joserfc import jws
    from joserfc.jwk import KeySet

    jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    body = json.loads(jws.deserialize_compact(listed[0]["jws"], jwks).payload)
    assert body["root_hash"] == listed[0]["root_hash"]


def test_inclusion_proof_verifies_against_the_checkpoint(http, world):
    first = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    event = http.get("/v1/audit/events?action=packet.send", headers=auditor(world)).get_json()[
        "items"
    ][0]
    proof = http.get(f"/v1/audit/events/{event['seq']}/proof", headers=auditor(world))
    assert proof.status_code == 200
    body = proof.get_json()
    assert body["tree_size"] >= first["tree_size"]
    assert merkle.verify_inclusion(
        bytes.fromhex(event["leaf_hash"]),
        body["leaf_index"],
        body["tree_size"],
        [bytes.fromhex(p) for p in body["proof"]],
        bytes.fromhex(body["root_hash"]),
    )
    # The recipient's auditor may prove the sending of a packet it received; an organization
    # that is no party to it may not.
    assert (
        http.get(f"/v1/audit/events/{event['seq']}/proof", headers=auditor(world, "te")).status_code
        == 200
    )
    assert (
        http.get(
            f"/v1/audit/events/{event['seq']}/proof", headers=auditor(world, "outsider")
        ).status_code
        == 404
    )


def test_consistency_proof_between_checkpoints(http, world, rt):
    old = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    http.get(f"/v1/packets/{world['packet_id']}", headers=world["te"].client.headers())
    new = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    assert new["tree_size"] > old["tree_size"]
    response = http.get(
        f"/v1/audit/consistency?from={old['tree_size']}&to={new['tree_size']}",
        headers=auditor(world),
    )
    body = response.get_json()
    assert merkle.verify_consistency(
        old["tree_size"],
        new["tree_size"],
        bytes.fromhex(old["root_hash"]),
        bytes.fromhex(new["root_hash"]),
        [bytes.fromhex(p) for p in body["proof"]],
    )
    backwards = http.get(
        f"/v1/audit/consistency?from={new['tree_size']}&to={old['tree_size']}",
        headers=auditor(world),
    )
    assert backwards.status_code == 422
    missing = http.get(
        f"/v1/audit/consistency?from=1&to={new['tree_size'] + 50}", headers=auditor(world)
    )
    assert missing.status_code == 404


# --- the client's access report -----------------------------------------------------------------


def test_access_report_says_who_saw_what(http, world):
    response = http.get(
        f"/v1/clients/{world['client_id']}/access-report",
        headers=world["provider"].client.headers("liisa.sw"),
    )
    assert response.status_code == 200
    entries = response.get_json()["entries"]
    received = [e for e in entries if e["what"] == "packet.send"]
    assert received[0]["organization"] == "te-vs"
    assert sorted(received[0]["categories"]) == ["assessment", "contact_persons"]
    assert received[0]["basis"] == "consent"
    read = [e for e in entries if e["what"] == "packet.read"]
    assert read[0]["person"] == "terhi.asiantuntija"
    assert read[0]["role"] == "staff"


@pytest.mark.parametrize(
    ("lang", "phrase"), [("fi", "Kuka on nähnyt"), ("sv", "Vem har sett"), ("en", "Who has seen")]
)
def test_access_report_page(http, world, lang, phrase):
    page = http.get(
        f"/v1/clients/{world['client_id']}/access-report?format=html&lang={lang}",
        headers=world["te"].client.headers("tuomas.sw"),
    )
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert phrase in html
    assert "Test organization" in html
    assert HETU not in html


def test_access_report_only_for_involved_social_workers(http, world, rt):
    url = f"/v1/clients/{world['client_id']}/access-report"
    assert http.get(url, headers=world["outsider"].client.headers("olli.sw")).status_code == 404
    assert (
        http.get(url, headers=world["provider"].client.headers("kalle.valmentaja")).status_code
        == 403
    )
    http.get(url, headers=world["provider"].client.headers("liisa.sw"))
    assert audit_rows(rt, action="audit.read", client_ref=world["client_id"])


# --- retention and the background round --------------------------------------------------------


def test_retention_shreds_content_but_the_log_still_verifies(http, world, rt, session):
    session.execute(
        text("UPDATE packet SET received_at = :t WHERE id = :i"),
        {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=4000), "i": world["packet_id"]},
    )
    session.commit()
    result = run_round(rt)
    assert result["shredded"] == 1
    assert result["sealed"] > 0
    row = session.execute(
        text("SELECT ciphertext, wrapped_key FROM packet WHERE id = :i"), {"i": world["packet_id"]}
    ).one()
    assert (bytes(row.ciphertext), bytes(row.wrapped_key)) == (b"", b"")
    response = http.get(f"/v1/packets/{world['packet_id']}", headers=world["te"].client.headers())
    assert response.status_code == 404
    assert response.get_json()["code"] == "packet_content_shredded"
    assert http.get("/v1/audit/verify", headers=auditor(world)).get_json()["ok"] is True
    assert run_round(rt)["shredded"] == 0


@pytest.mark.parametrize("export", ["csv", "jsonl"])
def test_an_export_gives_its_connection_back_when_it_ends(app_config, committed_database, export):
    """A streamed export reads after the request's unit of work has committed; its read
    transaction must end with the stream. (On SQLite an open transaction holds the write lock:
    the next write would wait 30 s and fail.)"""
    from exchange import create_app
    from tests.conftest import org_factory, runtime_of

    application = create_app({**app_config, "DATABASE_URL": committed_database})
    rt = runtime_of(application)
    try:
        http = application.test_client()
        org = org_factory(rt, http)("kisalli", users=[("aino.auditoija", ["auditor"])])
        for round_ in range(2):
            exported = http.get(
                f"/v1/audit/events?format={export}", headers=org.client.headers("aino.auditoija")
            )
            assert exported.status_code == 200
            text_ = exported.get_data(as_text=True)  # the stream is read to its end
            assert round_ == 0 or "audit.read" in text_  # the first search, sealed, exported
            assert rt.db.engine.pool.checkedout() == 0
            with rt.db.transaction() as session:  # and a writer gets in at once
                seal(session, rt.keys)
    finally:
        rt.db.engine.dispose()


# --- a damaged log: reported, never a 500; sealing stops past a forgery ----------------------


def superuser(session, *statements):
    """Write as someone with full database rights would: past the append-only triggers."""
    from sqlalchemy import text

    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        for name in (
            "audit_event_no_delete",
            "audit_event_seal_only",
            "audit_checkpoint_no_delete",
        ):
            session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    else:
        session.execute(text("SET session_replication_role = replica"))
    for statement in statements:
        session.execute(text(statement))
    if not sqlite:
        session.execute(text("SET session_replication_role = origin"))
    session.commit()


def test_a_row_forged_past_the_head_is_reported_and_stops_sealing(http, world, rt, session):
    from sqlalchemy import text

    sealed(rt)
    head = session.execute(text("SELECT seq FROM audit_head")).scalar()
    zero = "0" * 64
    superuser(
        session,
        "INSERT INTO audit_event (seq, occurred_at, action, outcome, leaf_hash, hash) VALUES "
        f"({head + 1}, '2026-01-01T00:00:00.000000Z', 'consent.read', 'allowed', "
        f"'{zero}', '{zero}')",
    )
    report = http.get("/v1/audit/verify", headers=auditor(world))
    assert report.status_code == 200
    assert report.get_json()["ok"] is False
    assert report.get_json()["first_bad_seq"] == head + 1
    made = http.post("/v1/audit/checkpoints", headers=auditor(world))
    assert made.status_code == 409
    assert made.get_json()["code"] == "audit_log_damaged"
    assert str(head + 1) in made.get_json()["detail"]
    # The events written meanwhile wait unsealed instead of being chained onto the forgery.
    assert session.execute(text("SELECT count(*) FROM audit_event WHERE seq IS NULL")).scalar()


def test_a_forged_checkpoint_names_no_event(http, world, rt, session):
    from sqlalchemy import text

    made = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    header, payload, signature = made["jws"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    superuser(
        session,
        f"INSERT INTO audit_checkpoint (tree_size, root_hash, chain_hash, created_at, jws) "
        f"VALUES ({made['tree_size'] + 100000}, '{made['root_hash']}', "
        f"'{made['chain_hash']}', '2026-01-01 00:00:00+00:00', '{forged}')",
    )
    assert session.execute(text("SELECT count(*) FROM audit_checkpoint")).scalar() == 2
    report = http.get("/v1/audit/verify", headers=auditor(world)).get_json()
    assert report["ok"] is False
    assert report["first_bad_seq"] is None
    assert "bad signature" in report["problem"]


def test_a_kept_checkpoint_shows_a_wiped_log(http, world, rt, session):
    made = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    ok = http.get(
        "/v1/audit/verify", query_string={"checkpoint": made["jws"]}, headers=auditor(world)
    )
    assert ok.get_json()["ok"] is True
    superuser(
        session,
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_event",
    )
    from sqlalchemy import text

    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER IF EXISTS audit_head_forward_only"))
        session.execute(text("DROP TRIGGER IF EXISTS audit_head_no_delete"))
    superuser(session, "DELETE FROM audit_head")
    assert http.get("/v1/audit/verify", headers=auditor(world)).get_json()["ok"] is True, (
        "without the kept checkpoint the wipe is invisible"
    )
    wiped = http.get(
        "/v1/audit/verify", query_string={"checkpoint": made["jws"]}, headers=auditor(world)
    ).get_json()
    assert wiped["ok"] is False
    bogus = http.get(
        "/v1/audit/verify", query_string={"checkpoint": "a.b.c"}, headers=auditor(world)
    )
    assert bogus.status_code == 422
    assert bogus.get_json()["errors"][0]["field"] == "checkpoint"


def test_each_checkpoint_is_offered_to_every_subscribed_organization(http, world, rt, session):
    from sqlalchemy import select

    from exchange.registry.models import Organization
    from exchange.webhooks.models import WebhookDelivery

    for org in session.execute(select(Organization)).scalars():
        org.webhook_url = "https://hooks.example.test/exchange"
    session.commit()
    made = http.post("/v1/audit/checkpoints", headers=auditor(world)).get_json()
    offered = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "audit.checkpoint")
    ).scalars()
    by_org = {row.organization_id: row.data for row in offered}
    everyone = set(session.execute(select(Organization.id)).scalars())
    assert set(by_org) == everyone
    assert all(
        data == {"tree_size": made["tree_size"], "jws": made["jws"]} for data in by_org.values()
    )


@pytest.mark.parametrize("export", ["csv", "jsonl"])
def test_an_export_failing_midway_ends_with_an_error_record(http, world, rt, monkeypatch, export):
    from exchange.audit.query import AuditQueries

    original = AuditQueries.export

    def failing(self, *given):
        body, mimetype = original(self, *given)

        def broken():
            yield next(body)
            raise RuntimeError("the database went away mid-export")

        return broken(), mimetype

    monkeypatch.setattr(AuditQueries, "export", failing)
    response = http.get(f"/v1/audit/events?format={export}", headers=auditor(world))
    assert response.status_code == 200  # the status line had gone out before the failure
    last = response.get_data(as_text=True).splitlines()[-1]
    request_id = response.headers["X-Request-ID"]
    if export == "jsonl":
        assert json.loads(last)["error"] == {
            "code": "export_failed",
            "detail": json.loads(last)["error"]["detail"],
            "request_id": request_id,
        }
    else:
        assert last.startswith("#error,export_failed,")
        assert last.endswith(request_id)
