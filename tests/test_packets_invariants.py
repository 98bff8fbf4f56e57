"""Responsibility never lapses (SPEC section 3): a stateful model of transfers, read-back,
escorts until the first contact, staff changes and deadlines.

Three organizations, each with two workers and an administrator, exchange
three clients back and forth: transfers (some with plan actions to read back,
some naming their own ``first_contact_by``) are sent, read, accepted with a
complete or an incomplete read-back, declined and withdrawn; receivers record
first contacts (or try to, as the wrong party, too early, twice or with a date
in the future); leads are assigned, workers leave with or without a successor,
and days pass (every deadline moves a day or more into the past and the
worker's deadline and escort jobs run).
Every answer is compared with a model of what the SPEC says must happen, and
after every step the database and the API must agree that each client who has
ever had a lead still has exactly one, held by an active worker of the lead
organization or visible in that organization's unassigned queue; that no
packet has disappeared; that no open transfer waits for a worker who left; and
that every accepted transfer has a first contact, or an escort whose
``first_contact_by`` has not passed, or an open ``first_contact_missing``
escalation that both organizations see.

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
from exchange.background import deadlines, escorts
from exchange.packets.lifecycle import OPEN
from tests.conftest import Org, org_factory, rolled_back, runtime_of, sign_packet

ORGS = {"inv-a": "provider", "inv-b": "employment_services", "inv-c": "social_services"}
HETUS = ("010190-900P", "150585-9122", "311299-934B")
JOSE = "application/jose"
UNSEEN = object()
FIRST_CONTACT_DAYS = 14  # EXCHANGE_FIRST_CONTACT_DAYS, the default
MODES = ("meeting", "phone", "video", "home_visit")
# Every example builds an application (about a second), so shrinking a failure can take
# minutes; without the shrink phase a failure is reported at once, with all its steps.
MACHINE_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=35,
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
    sender_worker: str = ""
    respond_by: dt.date = dt.date.min
    actions: tuple[str, ...] = ()
    # The escort (an accepted transfer): due date, who escorts, who is to make the contact.
    first_contact_by: dt.date | None = None
    escort_worker: str | None = None
    first_contact_worker: str | None = None
    first_contact: bool = False
    accepted_turn: int = 0

    @property
    def escorted(self) -> bool:
        return self.status == "accepted" and self.kind == "transfer" and not self.first_contact

    def missing(self) -> bool:
        """Escorted past first_contact_by: the escalation must be open."""
        return (
            self.escorted
            and self.first_contact_by is not None
            and (self.first_contact_by < today())
        )


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
                        "categories": ["assessment", "plan"],
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
            actions: tuple[str, ...] = (),
            first_contact_by: dt.date | None = None,
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
            if actions:
                payload["sections"].append(
                    {
                        "type": "plan",
                        "kind": "employment_plan",
                        "goals": [{"text": "Work trial", "target_date": "2027-06-01"}],
                        "actions": [
                            {
                                "id": action,
                                "text": f"Action {action}",
                                "owner": "receiver",
                                "due": (today() + dt.timedelta(days=20)).isoformat(),
                            }
                            for action in actions
                        ],
                    }
                )
            if first_contact_by is not None:
                payload["first_contact_by"] = first_contact_by.isoformat()
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
            actions = data.draw(st.sampled_from([(), ("a1",), ("a1", "a2")]), label="actions")
            later = data.draw(st.none() | st.integers(0, 10), label="first_contact_after")
            respond_by = today() + dt.timedelta(days=days)
            first_contact_by = None if later is None else respond_by + dt.timedelta(days=later)
            response = self.send(
                client,
                sender,
                worker,
                recipient,
                to_worker,
                days,
                "transfer",
                actions,
                first_contact_by,
            )
            if not self.active[worker] or (to_worker is not None and not self.active[to_worker]):
                body = self.expect(response, 422, step="send_transfer_from_the_lead")
                fields = {error["field"] for error in body["errors"]}
                assert fields <= {"from.worker", "to.worker"}, body
                return
            body = self.expect(response, 201, step="send_transfer_from_the_lead")
            assert body["status"] == "sent"
            self.packets[body["id"]] = PacketModel(
                body["id"],
                client,
                "transfer",
                sender,
                recipient,
                to_worker,
                "sent",
                worker,
                respond_by,
                actions,
                first_contact_by,
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
                body["id"],
                client,
                "information",
                sender,
                recipient,
                None,
                "sent",
                worker,
                today() + dt.timedelta(days=7),
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
            self._accept(self.draw_packet(data), data)

        @precondition(
            lambda self: any(
                p.kind == "transfer" and p.status in OPEN for p in self.packets.values()
            )
        )
        @rule(data=st.data())
        def accept_open_transfer(self, data: st.DataObject) -> None:
            """Hand-overs are the point: an open transfer is accepted more often than the rest
            of the packets are acted on."""
            open_transfers = [p for p in self.open_packets() if p.kind == "transfer"]
            self._accept(data.draw(st.sampled_from(open_transfers), label="packet"), data)

        def _accept(self, packet: PacketModel, data: st.DataObject) -> None:
            left = [user for user in workers_of(packet.recipient) if not self.active[user]]
            active = self.active_users(packet.recipient)
            users = left if left and data.draw(st.integers(0, 3), label="left") == 0 else active
            user = data.draw(st.sampled_from(users), label="acting")
            # The read-back: every action (mostly), one left out, or an id the plan lacks.
            read_back = data.draw(st.sampled_from(["all", "all", "all", "short", "extra"]))
            acknowledged = list(packet.actions)
            if read_back == "short" and acknowledged:
                acknowledged.pop()
            if read_back == "extra":
                acknowledged.append("zz")
            response = self.http.post(
                f"/v1/packets/{packet.id}/accept",
                json={"acknowledged_actions": acknowledged, "synthesis": "Read back."},
                headers=self.orgs[packet.recipient].client.headers(user),
            )
            if not self.active[user]:
                # A worker who has left can no longer take anyone over.
                self.expect(response, 403, "acting_user_invalid", step="accept")
                return
            if packet.status not in OPEN:
                self.expect(response, 409, f"packet_{packet.status}", step="accept")
                return
            missing = [a for a in packet.actions if a not in acknowledged]
            unknown = [a for a in acknowledged if a not in packet.actions]
            if missing or unknown:
                # Nothing moves: the lead stays, the packet stays open.
                body = self.expect(response, 422, "read_back_incomplete", step="accept")
                assert (body["missing"], body["unknown"]) == (missing, unknown)
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
                # The sender escorts until the receiver's first contact.
                if packet.first_contact_by is None:
                    packet.first_contact_by = today() + dt.timedelta(days=FIRST_CONTACT_DAYS)
                packet.escort_worker = (
                    packet.sender_worker if self.active[packet.sender_worker] else None
                )
                packet.first_contact_worker = user
                packet.accepted_turn = self.turn

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
            moved_escorts = [
                p
                for p in self.packets.values()
                if p.escorted and p.sender == org and p.escort_worker == leaver
            ]
            moved_contacts = [
                p
                for p in self.packets.values()
                if p.escorted and p.recipient == org and p.first_contact_worker == leaver
            ]
            assert (
                body["leads_moved"],
                body["packets_moved"],
                body["escorts_moved"],
                body["first_contacts_moved"],
            ) == (len(moved_leads), len(moved_packets), len(moved_escorts), len(moved_contacts))
            self.active[leaver] = False
            for client in moved_leads:
                self.leads[client] = (org, successor)
            for packet in moved_packets:
                packet.addressed = successor
            for packet in moved_escorts:
                packet.escort_worker = successor
            for packet in moved_contacts:
                packet.first_contact_worker = successor

        @precondition(lambda self: bool(self.packets))
        @rule(data=st.data())
        def record_first_contact(self, data: st.DataObject) -> None:
            """Mostly the receiver of an accepted transfer; sometimes the wrong party, too
            early, twice, or with a date in the future."""
            escorted = [p for p in self.packets.values() if p.escorted]
            pool = (
                escorted
                if escorted and data.draw(st.integers(0, 3), label="escorted") > 0
                else list(self.packets.values())
            )
            packet = data.draw(st.sampled_from(pool), label="packet")
            third = next(o for o in ORGS if o not in (packet.sender, packet.recipient))
            org = data.draw(
                st.sampled_from([packet.recipient] * 4 + [packet.sender, third]), label="as"
            )
            future = data.draw(st.integers(0, 5), label="future") == 0
            self._first_contact(packet, org, future, data)

        @precondition(lambda self: any(p.escorted for p in self.packets.values()))
        @rule(data=st.data())
        def first_contact_by_the_receiver(self, data: st.DataObject) -> None:
            """The escort's end, the step the whole transfer is for."""
            escorted = [p for p in self.packets.values() if p.escorted]
            packet = data.draw(st.sampled_from(escorted), label="packet")
            self._first_contact(packet, packet.recipient, False, data)

        def _first_contact(
            self, packet: PacketModel, org: str, future: bool, data: st.DataObject
        ) -> None:
            third = next(o for o in ORGS if o not in (packet.sender, packet.recipient))
            user = data.draw(st.sampled_from(self.active_users(org)), label="acting")
            day = today() + dt.timedelta(days=1 if future else 0)
            response = self.http.post(
                f"/v1/packets/{packet.id}/first-contact",
                json={"date": day.isoformat(), "mode": data.draw(st.sampled_from(MODES))},
                headers=self.orgs[org].client.headers(user),
            )
            step = "record_first_contact"
            if org == third:
                self.expect(response, 404, step=step)
                return
            if org == packet.sender:
                self.expect(response, 403, step=step)
                return
            if packet.kind != "transfer":
                self.expect(response, 409, "not_a_transfer", step=step)
                return
            if packet.status != "accepted":
                self.expect(response, 409, f"packet_{packet.status}", step=step)
                return
            if packet.first_contact:
                self.expect(response, 409, "first_contact_recorded", step=step)
                return
            if future:
                body = self.expect(response, 422, step=step)
                assert [error["field"] for error in body["errors"]] == ["date"]
                return
            self.expect(response, 200, step=step)
            packet.first_contact = True

        @precondition(lambda self: bool(self.packets))
        @rule(days=st.sampled_from([1, 7]))
        def days_pass(self, days: int) -> None:
            """A day or a week passes."""
            self._days_pass(days)

        @precondition(lambda self: any(p.escorted for p in self.packets.values()))
        @rule(data=st.data())
        def first_contact_by_passes(self, data: st.DataObject) -> None:
            """No first contact comes: just enough days pass for an escorted transfer's
            first_contact_by to be behind us."""
            escorted = [p for p in self.packets.values() if p.escorted]
            packet = data.draw(st.sampled_from(escorted), label="escorted")
            assert packet.first_contact_by is not None
            self._days_pass(max(1, (packet.first_contact_by - today()).days + 1))

        def _days_pass(self, days: int) -> None:
            """Every deadline moves ``days`` into the past (as if the days had passed), and the
            worker's deadline and escort jobs run: open packets past respond_by expire, escorts
            past first_contact_by escalate."""
            with self.rt.db.transaction() as session:
                session.execute(
                    text(
                        "UPDATE packet SET respond_by = respond_by - CAST(:d AS INTEGER),"
                        " first_contact_by = first_contact_by - CAST(:d AS INTEGER)"
                    )
                    if self.rt.db.engine.dialect.name == "postgresql"
                    else text(
                        "UPDATE packet SET respond_by = date(respond_by, '-' || :d || ' days'),"
                        " first_contact_by = date(first_contact_by, '-' || :d || ' days')"
                    ),
                    {"d": days},
                )
            shift = dt.timedelta(days=days)
            for packet in self.packets.values():
                packet.respond_by -= shift
                if packet.first_contact_by is not None:
                    packet.first_contact_by -= shift
                if packet.status in OPEN and packet.respond_by < today():
                    packet.status = "expired"
            ran = deadlines(self.rt)
            raised = escorts(self.rt)
            event(f"days_pass: expired {ran['expired']}, escalated {raised}")

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
            self.escorts_agree()

        def escorts_agree(self) -> None:
            """Every accepted transfer has a first contact, or an escort whose first_contact_by
            has not passed, or an open first_contact_missing escalation (raised by the
            worker); and the escort is the one the model expects."""
            with self.rt.db.sessions() as session:
                rows = {
                    row.id: row
                    for row in session.execute(
                        text(
                            "SELECT id, first_contact_by, escort_worker, first_contact_worker,"
                            " first_contact_on, first_contact_missing_at FROM packet"
                            " WHERE kind = 'transfer' AND status = 'accepted'"
                        )
                    )
                }
            accepted = {p.id: p for p in self.packets.values() if p.escorted or p.first_contact}
            assert set(rows) == set(accepted)
            for packet_id, row in rows.items():
                packet = accepted[packet_id]
                by = row.first_contact_by
                by = by if isinstance(by, dt.date) else dt.date.fromisoformat(by)
                assert (
                    row.first_contact_on is not None
                    or by >= today()
                    or row.first_contact_missing_at is not None
                ), packet
                assert (row.first_contact_on is not None) == packet.first_contact, packet
                assert by == packet.first_contact_by, packet
                assert (row.escort_worker, row.first_contact_worker) == (
                    packet.escort_worker,
                    packet.first_contact_worker,
                ), packet

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
                assert body["escort"] == self.escort_of(client)
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
                # Both organizations of a transfer see its missing first contact.
                missing = {
                    p.id
                    for p in self.packets.values()
                    if p.missing() and org_id in (p.sender, p.recipient)
                }
                if self.due(("escalations", org_id), missing, index):
                    response = self.http.get("/v1/escalations", headers=org.client.headers())
                    listed = self.expect(response, 200)["first_contact_missing"]
                    assert {item["id"] for item in listed} == missing
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

        def escort_of(self, client: str) -> dict[str, Any] | None:
            """The escort of the client's latest accepted transfer, while it goes on."""
            accepted = [
                p
                for p in self.packets.values()
                if p.client == client and p.kind == "transfer" and p.status == "accepted"
            ]
            if not accepted:
                return None
            latest = max(accepted, key=lambda p: p.accepted_turn)
            if not latest.escorted:
                return None
            assert latest.first_contact_by is not None
            return {
                "organization": latest.sender,
                "worker": latest.escort_worker,
                "first_contact_by": latest.first_contact_by.isoformat(),
            }

        def due(self, view: tuple[str, str], expected: Any, index: int) -> bool:
            """True when ``view`` should now show something else, or it is its turn."""
            changed = self.shown.get(view, UNSEEN) != expected
            self.shown[view] = expected
            return changed or index == self.turn % 3

    return Handovers


def test_responsibility_never_lapses(app_config):
    machine = make_machine(app_config)
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
