"""Responsibility never lapses (SPEC section 3): a stateful model of transfers and staff changes.

Three organizations, each with two workers and an administrator, exchange
three clients back and forth: transfers are sent, read, accepted, declined and
withdrawn, leads are assigned, workers leave with or without a successor.
Every answer is compared with a model of what the SPEC says must happen, and
after every step the database and the API must agree that each client who has
ever had a lead still has exactly one, held by an active worker of the lead
organization or visible in that organization's unassigned queue; that no
packet has disappeared; and that no open transfer waits for a worker who left.

Each hypothesis example builds its own application on its own rolled-back
connection (function-scoped fixtures would be shared by all examples).
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from consent.model import local_date
from consent.vocabulary import PACKET_STATUSES
from exchange import create_app
from exchange.packets.lifecycle import OPEN
from tests.conftest import Org, org_factory, rolled_back, runtime_of, sign_packet

ORGS = {"inv-a": "provider", "inv-b": "employment_services", "inv-c": "social_services"}
HETUS = ("010190-900P", "150585-9122", "311299-934B")
JOSE = "application/jose"
UNSEEN = object()
# Every example builds an application (about a second), so shrinking a failure can take
# minutes; without the shrink phase a failure is reported at once, with all its steps.
MACHINE_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def workers_of(org: str) -> list[str]:
    return [f"{org}.w1", f"{org}.w2"]


def admin_of(org: str) -> str:
    return f"{org}.admin"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@dataclass
class PacketModel:
    id: str
    client: str
    kind: str
    sender: str
    recipient: str
    addressed: str | None
    status: str


def make_machine(app_config: dict[str, Any]) -> type[RuleBasedStateMachine]:
    class Handovers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.stack = ExitStack()
            try:
                self.app = create_app(app_config)
                self.connection = self.stack.enter_context(rolled_back(self.app))
                self.rt = runtime_of(self.app)
                self.http = self.app.test_client()
                self._build_world()
            except BaseException:
                self.stack.close()
                raise

        def teardown(self) -> None:
            self.stack.close()

        # --- the world ----------------------------------------------------------------

        def _build_world(self) -> None:
            make_org = org_factory(self.rt, self.http)
            self.orgs: dict[str, Org] = {
                org_id: make_org(
                    org_id,
                    kind=kind,
                    users=[(name, ["social_worker"]) for name in workers_of(org_id)]
                    + [(admin_of(org_id), ["admin"])],
                )
                for org_id, kind in ORGS.items()
            }
            self.org_of = {
                user: org_id for org_id in ORGS for user in [*workers_of(org_id), admin_of(org_id)]
            }
            self.active = dict.fromkeys(self.org_of, True)
            self.clients: list[str] = []
            for hetu in HETUS:
                recorded = self.http.post(
                    "/v1/consents",
                    json={
                        "client": {"hetu": hetu},
                        "grantor": {"type": "self"},
                        "decision": "permit",
                        "sources": list(ORGS),
                        "recipients": list(ORGS),
                        "categories": ["assessment"],
                        "purposes": ["service_planning"],
                        "valid_until": (today() + dt.timedelta(days=200)).isoformat(),
                        "method": "signed_paper",
                        "evidence": {"reference": "form 2026/1"},
                        "language": "fi",
                        "approver_organization": "inv-b",
                    },
                    headers=self.orgs["inv-a"].client.headers("inv-a.w1"),
                )
                assert recorded.status_code == 201, recorded.get_json()
                consent = recorded.get_json()
                approved = self.http.post(
                    f"/v1/consents/{consent['id']}/approve",
                    headers=self.orgs["inv-b"].client.headers("inv-b.w1"),
                )
                assert approved.status_code == 200, approved.get_json()
                self.clients.append(consent["client_id"])
            self.leads: dict[str, tuple[str, str | None]] = {}
            self.packets: dict[str, PacketModel] = {}
            self.shown: dict[tuple[str, str], Any] = {}
            self.turn = 0

        # --- helpers --------------------------------------------------------------------

        def active_users(self, org: str) -> list[str]:
            return [
                user for user, active in self.active.items() if active and self.org_of[user] == org
            ]

        def expect(
            self, response: Any, status: int, code: str | None = None, step: str = ""
        ) -> dict[str, Any]:
            body = response.get_json()
            assert response.status_code == status, (status, code, body)
            if step:
                event(f"{step}: {status} {code or ''}".strip())
            if code is not None:
                assert body["code"] == code, body
            return body

        def send(
            self,
            client: str,
            sender: str,
            worker: str,
            recipient: str,
            to_worker: str | None,
            days: int,
            kind: str = "transfer",
        ) -> Any:
            to: dict[str, str] = {"organization": recipient}
            if to_worker is not None:
                to["worker"] = to_worker
            payload = {
                "client": {"id": client},
                "from": {"organization": sender, "worker": worker},
                "to": to,
                "kind": kind,
                "purpose": "service_planning",
                "respond_by": (today() + dt.timedelta(days=days)).isoformat(),
                # Each sending is a packet of its own (the same signed payload twice is a
                # duplicate, refused with 409: that rule has its own tests).
                "case_reference": f"STEP-{uuid.uuid4().hex[:12]}",
                "sections": [
                    {
                        "type": "assessment",
                        "instrument": "vat",
                        "date": today().isoformat(),
                        "summary": f"Step by {worker}.",
                    }
                ],
            }
            org = self.orgs[sender]
            return self.http.post(
                "/v1/packets",
                data=sign_packet(org.packet_key, payload),
                headers={**org.client.headers(), "Content-Type": JOSE},
            )

        def draw_packet(self, data: st.DataObject) -> PacketModel:
            """Mostly an open packet (closed ones only test the 409s)."""
            open_ones = self.open_packets()
            closed = not open_ones or data.draw(st.integers(0, 3), label="closed") == 0
            # In creation order: packet ids are random, so sorting them would make a replayed
            # example pick another packet.
            pool = list(self.packets.values()) if closed else open_ones
            return data.draw(st.sampled_from(pool), label="packet")

        def open_packets(self) -> list[PacketModel]:
            return [p for p in self.packets.values() if p.status in OPEN]

        # --- rules --------------------------------------------------------------------

        @rule(data=st.data())
        def send_transfer_from_the_lead(self, data: st.DataObject) -> None:
            """From the lead organization (any organization while there is no lead)."""
            client = data.draw(st.sampled_from(self.clients), label="client")
            lead = self.leads.get(client)
            sender = lead[0] if lead else data.draw(st.sampled_from(list(ORGS)), label="sender")
            recipient = data.draw(st.sampled_from([o for o in ORGS if o != sender]), label="to")
            worker = data.draw(st.sampled_from(workers_of(sender)), label="worker")
            to_worker = data.draw(
                st.none() | st.sampled_from(workers_of(recipient)), label="to_worker"
            )
            days = data.draw(st.integers(1, 30), label="respond_in_days")
            response = self.send(client, sender, worker, recipient, to_worker, days)
            if not self.active[worker] or (to_worker is not None and not self.active[to_worker]):
                body = self.expect(response, 422, step="send_transfer_from_the_lead")
                fields = {error["field"] for error in body["errors"]}
                assert fields <= {"from.worker", "to.worker"}, body
                return
            body = self.expect(response, 201, step="send_transfer_from_the_lead")
            assert body["status"] == "sent"
            self.packets[body["id"]] = PacketModel(
                body["id"], client, "transfer", sender, recipient, to_worker, "sent"
            )
            if lead is None:
                self.leads[client] = (sender, worker)

        @precondition(lambda self: bool(self.leads))
        @rule(data=st.data())
        def send_transfer_from_elsewhere(self, data: st.DataObject) -> None:
            client = data.draw(
                st.sampled_from([c for c in self.clients if c in self.leads]), label="client"
            )
            lead_org = self.leads[client][0]
            sender = data.draw(st.sampled_from([o for o in ORGS if o != lead_org]), label="sender")
            recipient = data.draw(st.sampled_from([o for o in ORGS if o != sender]), label="to")
            worker = data.draw(st.sampled_from(self.active_users(sender)), label="worker")
            before = len(self.packets)
            response = self.send(client, sender, worker, recipient, None, 7)
            self.expect(response, 409, "lead_elsewhere", step="send_transfer_from_elsewhere")
            assert len(self.packets) == before

        @rule(data=st.data())
        def send_information(self, data: st.DataObject) -> None:
            """Sharing needs no lead and moves none."""
            client = data.draw(st.sampled_from(self.clients), label="client")
            sender = data.draw(st.sampled_from(list(ORGS)), label="sender")
            recipient = data.draw(st.sampled_from([o for o in ORGS if o != sender]), label="to")
            worker = data.draw(st.sampled_from(self.active_users(sender)), label="worker")
            response = self.send(client, sender, worker, recipient, None, 7, kind="information")
            body = self.expect(response, 201, step="send_information")
            self.packets[body["id"]] = PacketModel(
                body["id"], client, "information", sender, recipient, None, "sent"
            )

        @precondition(lambda self: bool(self.packets))
        @rule(data=st.data())
        def read_as_recipient(self, data: st.DataObject) -> None:
            packet = self.draw_packet(data)
            response = self.http.get(
                f"/v1/packets/{packet.id}", headers=self.orgs[packet.recipient].client.headers()
            )
            body = self.expect(response, 200, step="read_as_recipient")
            if packet.status == "sent":
                packet.status = "delivered"
            assert body["status"] == packet.status

        @precondition(lambda self: bool(self.packets))
        @rule(data=st.data())
        def accept(self, data: st.DataObject) -> None:
            packet = self.draw_packet(data)
            left = [user for user in workers_of(packet.recipient) if not self.active[user]]
            active = self.active_users(packet.recipient)
            users = left if left and data.draw(st.integers(0, 3), label="left") == 0 else active
            user = data.draw(st.sampled_from(users), label="acting")
            response = self.http.post(
                f"/v1/packets/{packet.id}/accept",
                headers=self.orgs[packet.recipient].client.headers(user),
            )
            if not self.active[user]:
                # A worker who has left can no longer take anyone over.
                self.expect(response, 403, "acting_user_invalid", step="accept")
                return
            if packet.status not in OPEN:
                self.expect(response, 409, f"packet_{packet.status}", step="accept")
                return
            transfer = packet.kind == "transfer"
            if transfer and self.leads[packet.client][0] != packet.sender:
                self.expect(response, 409, "lead_elsewhere", step="accept")
                return
            body = self.expect(response, 200, step="accept")
            packet.status = "accepted"
            assert body["status"] == "accepted"
            if transfer:
                self.leads[packet.client] = (packet.recipient, user)

        @precondition(lambda self: bool(self.packets))
        @rule(data=st.data())
        def decline(self, data: st.DataObject) -> None:
            packet = self.draw_packet(data)
            user = data.draw(st.sampled_from(self.active_users(packet.recipient)), label="acting")
            response = self.http.post(
                f"/v1/packets/{packet.id}/decline",
                json={"reason": "No capacity this month"},
                headers=self.orgs[packet.recipient].client.headers(user),
            )
            if packet.status not in OPEN:
                self.expect(response, 409, f"packet_{packet.status}", step="decline")
                return
            self.expect(response, 200, step="decline")
            packet.status = "declined"

        @precondition(lambda self: bool(self.packets))
        @rule(data=st.data())
        def withdraw(self, data: st.DataObject) -> None:
            packet = self.draw_packet(data)
            user = data.draw(st.sampled_from(self.active_users(packet.sender)), label="acting")
            response = self.http.post(
                f"/v1/packets/{packet.id}/withdraw",
                headers=self.orgs[packet.sender].client.headers(user),
            )
            if packet.status not in OPEN:
                self.expect(response, 409, f"packet_{packet.status}", step="withdraw")
                return
            self.expect(response, 200, step="withdraw")
            packet.status = "withdrawn"

        # At most half of the workers leave, so that the others still have work to do.
        @precondition(lambda self: sum(not active for active in self.active.values()) < 3)
        @rule(data=st.data())
        def deactivate(self, data: st.DataObject) -> None:
            org = data.draw(st.sampled_from(list(ORGS)), label="org")
            leaver = data.draw(st.sampled_from(workers_of(org)), label="leaver")
            successor = data.draw(st.none() | st.sampled_from(workers_of(org)), label="successor")
            response = self.http.post(
                f"/v1/workers/{leaver}/deactivate",
                json={"successor": successor},
                headers=self.orgs[org].client.headers(admin_of(org)),
            )
            if successor is not None and (successor == leaver or not self.active[successor]):
                body = self.expect(response, 422, step="deactivate")
                assert [error["field"] for error in body["errors"]] == ["successor"]
                return
            body = self.expect(response, 200, step="deactivate")
            moved_leads = [c for c, lead in self.leads.items() if lead == (org, leaver)]
            moved_packets = [
                p for p in self.open_packets() if p.recipient == org and p.addressed == leaver
            ]
            assert (body["leads_moved"], body["packets_moved"]) == (
                len(moved_leads),
                len(moved_packets),
            )
            self.active[leaver] = False
            for client in moved_leads:
                self.leads[client] = (org, successor)
            for packet in moved_packets:
                packet.addressed = successor

        @rule(data=st.data())
        def assign_lead(self, data: st.DataObject) -> None:
            client = data.draw(st.sampled_from(self.clients), label="client")
            org = data.draw(st.sampled_from(list(ORGS)), label="org")
            worker = data.draw(st.sampled_from(workers_of(org)), label="worker")
            response = self.http.post(
                f"/v1/clients/{client}/lead",
                json={"worker": worker},
                headers=self.orgs[org].client.headers(admin_of(org)),
            )
            lead = self.leads.get(client)
            elsewhere, inactive = lead is not None and lead[0] != org, not self.active[worker]
            if elsewhere and inactive:
                # Both refusals apply; which one is reported first is not part of the contract.
                assert response.status_code in (409, 422), response.get_json()
                event(f"assign_lead: {response.status_code}")
                return
            if elsewhere:
                self.expect(response, 409, "lead_elsewhere", step="assign_lead")
                return
            if inactive:
                body = self.expect(response, 422, step="assign_lead")
                assert [error["field"] for error in body["errors"]] == ["worker"]
                return
            body = self.expect(response, 200, step="assign_lead")
            assert (body["organization"], body["worker"]) == (org, worker)
            self.leads[client] = (org, worker)

        # --- invariants ---------------------------------------------------------------

        @invariant()
        def database_agrees(self) -> None:
            with self.rt.db.sessions() as session:
                leads = session.execute(
                    text("SELECT client_id, organization_id, worker FROM lead")
                ).all()
                users = dict(session.execute(text("SELECT username, active FROM app_user")).all())
                packets = {
                    row.id: row
                    for row in session.execute(
                        text("SELECT id, status, kind, recipient_org, recipient_user FROM packet")
                    )
                }
                stranded = session.execute(
                    text(
                        "SELECT p.id FROM packet p JOIN app_user u ON u.username = p.recipient_user"
                        " WHERE p.kind = 'transfer' AND p.status IN ('sent', 'delivered')"
                        " AND NOT u.active"
                    )
                ).all()
            by_client: dict[str, list[tuple[str, str | None]]] = {}
            for client_id, org, worker in leads:
                by_client.setdefault(client_id, []).append((org, worker))
            # Exactly one lead for everyone who ever had one, and the one the model expects.
            assert by_client == {c: [lead] for c, lead in self.leads.items()}
            assert {u: bool(a) for u, a in users.items() if u in self.active} == self.active
            for org, worker in self.leads.values():
                assert worker is None or (self.active[worker] and self.org_of[worker] == org)
            assert set(packets) == set(self.packets)
            for packet in self.packets.values():
                row = packets[packet.id]
                assert row.status in PACKET_STATUSES
                assert (row.status, row.recipient_user) == (packet.status, packet.addressed), packet
            assert stranded == []

        @invariant()
        def api_agrees(self) -> None:
            """What the API shows: every view the last step changed is read back at once, the
            unchanged ones in turn, one of each kind a step (the database check above sees
            everything after every step; reading all nine views every step would be slow)."""
            self.turn += 1
            for index, client in enumerate(self.clients):
                lead = self.leads.get(client)
                if not self.due(("lead", client), lead, index):
                    continue
                asking = self.orgs[lead[0] if lead else "inv-a"]
                response = self.http.get(
                    f"/v1/clients/{client}/lead", headers=asking.client.headers()
                )
                body = self.expect(response, 200)
                assert (body["organization"], body["worker"]) == (lead or (None, None))
            for index, (org_id, org) in enumerate(self.orgs.items()):
                # A client led by the organization is in its queue exactly when no active
                # worker of it is named.
                queue = {
                    client
                    for client, (lead_org, worker) in self.leads.items()
                    if lead_org == org_id and (worker is None or not self.active[worker])
                }
                if self.due(("unassigned", org_id), queue, index):
                    response = self.http.get(
                        f"/v1/organizations/{org_id}/unassigned", headers=org.client.headers()
                    )
                    assert {item["client_id"] for item in self.expect(response, 200)["items"]} == (
                        queue
                    )
                # Every packet has one recipient: the inboxes together show every packet.
                inbox = {
                    p.id: (p.status, p.addressed)
                    for p in self.packets.values()
                    if p.recipient == org_id
                }
                if self.due(("inbox", org_id), inbox, index):
                    response = self.http.get(
                        "/v1/packets?box=inbox&limit=200", headers=org.client.headers()
                    )
                    body = self.expect(response, 200)
                    assert body["next_cursor"] is None
                    shown = {
                        item["id"]: (item["status"], item["to"]["worker"]) for item in body["items"]
                    }
                    assert shown == inbox
                    for item in body["items"]:
                        addressed = item["to"]["worker"]
                        if item["kind"] == "transfer" and item["status"] in OPEN and addressed:
                            assert self.active[addressed], item

        def due(self, view: tuple[str, str], expected: Any, index: int) -> bool:
            """True when ``view`` should now show something else, or it is its turn."""
            changed = self.shown.get(view, UNSEEN) != expected
            self.shown[view] = expected
            return changed or index == self.turn % 3

    return Handovers


def test_responsibility_never_lapses(app_config):
    machine = make_machine(app_config)
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
