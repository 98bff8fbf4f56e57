"""Packet endpoints (SPEC section 4, "Packets")."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.views import MethodView

from exchange.acting import current_identity
from exchange.errors import Malformed, UnsupportedMediaType
from exchange.http import ApiBlueprint
from exchange.packets.presenters import history, meta
from exchange.packets.service import IdempotentRace, ReadBack, request_digest
from exchange.runtime import runtime
from exchange.services import services
from exchange.unit import current_unit
from schemas.packets import (
    ACCEPT_EXAMPLE,
    FIRST_CONTACT_EXAMPLE,
    AcceptBody,
    DeclineBody,
    FirstContactBody,
    PacketEvents,
    PacketListArgs,
    PacketMeta,
    PacketOut,
    PacketPage,
    SubmitResponse,
)

blp = ApiBlueprint("packets", __name__, url_prefix="/v1", description="Handover packets")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# How long a key stays locked when the worker holding it dies (kill -9): its retries wait this
# long. A submission takes milliseconds; one still running after the lock expires is caught by
# the database's unique key, so a short lock never makes a second packet.
LOCK_SECONDS = 10
JOSE = "application/jose"


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise Malformed(
            "Idempotency-Key must be 1-255 visible ASCII characters.", code="invalid_header"
        )
    return key


@blp.route("/packets")
class Packets(MethodView):
    @blp.action("packet.send", errors=(404, 409, 413, 415, 422))
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                JOSE: {
                    "schema": {
                        "type": "string",
                        "description": "Compact JWS over the packet JSON "
                        "(#/components/schemas/PacketPayload, with its example)",
                    }
                }
            },
        },
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
    )
    @blp.response(201, SubmitResponse)
    def post(self) -> tuple[dict[str, Any], int]:
        """Send a packet: a compact JWS signed with a key of your organization's JWKS.

        Every section needs a legal basis (a consent in force or a statute); otherwise
        nothing is sent and the answer is 403 `consent_missing` with `missing`. With an
        `Idempotency-Key`, a retry with the same body returns the stored answer."""
        identity = current_identity()
        if request.mimetype != JOSE:
            raise UnsupportedMediaType("Send the packet as application/jose (a compact JWS).")
        body = request.get_data()
        try:
            token = body.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise Malformed("The packet is not a compact JWS.", code="invalid_jws") from exc
        key = _idempotency_key()
        packets = services().packets
        redis = runtime().redis
        lock = None
        if key is not None:
            # Fast path across instances: only one request per key runs at a time.
            lock = f"idempotency:{identity.client_id}:{request_digest(key.encode())}"
            if not redis.set(lock, 1, nx=True, ex=LOCK_SECONDS):
                result = packets.replay_committed(identity.client_id, key, request_digest(body))
                return result.body, result.status_code
        try:
            result = packets.submit(identity, token, key, body)
        except IdempotentRace as race:
            # Another request stored this key first: read its answer in a fresh transaction.
            current_unit().session.rollback()
            result = packets.replay_committed(race.oauth_client, race.key, race.digest)
        except Exception:
            # Refused: nothing is stored under the key, so a corrected retry may run at once.
            if lock is not None:
                redis.delete(lock)
            raise
        return result.body, result.status_code

    @blp.action("packet.list", errors=(422,))
    @blp.arguments(PacketListArgs, location="query")
    @blp.response(200, PacketPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Inbox (`packets:receive`) or outbox (`packets:send`): metadata only, newest first."""
        identity = current_identity()
        # Each box has its own action: the inbox needs packets:receive, the outbox packets:send.
        current_unit().authorize(identity, f"packet.{args['box']}")
        packets = services().packets
        page = packets.list_box(identity, args)
        return {
            "items": [meta(row, packets.status_of(row)) for row in page.items],
            "next_cursor": page.next_cursor,
        }


@blp.route("/packets/<string:packet_id>")
class PacketItem(MethodView):
    @blp.action("packet.read", errors=(404,))
    @blp.response(200, PacketOut)
    def get(self, packet_id: str) -> dict[str, Any]:
        """The decrypted sections and the original JWS, for the sender and the recipient.

        The legal basis is checked again: when it is gone the answer is 403
        `consent_withdrawn` and the packet is blocked. The recipient's first read
        marks it `delivered`."""
        packets = services().packets
        opened = packets.read(current_identity(), packet_id)
        row = opened.packet
        return {
            **meta(row, packets.status_of(row)),
            "sections": opened.sections,
            "jws": opened.jws,
            "basis": row.basis,
        }


def _act(packet_id: str, action: str, reason: str = "") -> dict[str, Any]:
    identity = current_identity()
    packets = services().packets
    if action == "decline":
        row = packets.decline(identity, packet_id, reason)
    else:
        row = packets.withdraw(identity, packet_id)
    return meta(row, packets.status_of(row))


@blp.route("/packets/<string:packet_id>/accept")
class PacketAccept(MethodView):
    @blp.action("packet.accept", errors=(404, 409, 413, 415, 422))
    # Not required: a packet without actions is accepted with no body, as before read-back.
    @blp.arguments(AcceptBody, example=ACCEPT_EXAMPLE, required=False)
    @blp.response(200, PacketMeta)
    def post(self, body: dict[str, Any], packet_id: str) -> dict[str, Any]:
        """Accept a packet, reading back its plan; for a `transfer` the acting user becomes
        the client's lead and the sender its escort until the first contact (by the
        payload's `first_contact_by`, or 14 days from now: `EXCHANGE_FIRST_CONTACT_DAYS`).

        `acknowledged_actions` must name every action of the packet's plan sections and no
        other id, or the answer is 422 `read_back_incomplete` with `missing` and `unknown`
        and nothing changes. A packet without actions may be accepted with `{}` or no body.
        The optional `synthesis` (up to 2000 characters) is stored encrypted; the sender
        sees the read-back on the `accepted` event of `GET /v1/packets/{id}/events`."""
        identity = current_identity()
        packets = services().packets
        read_back = ReadBack(tuple(body["acknowledged_actions"]), body.get("synthesis"))
        row = packets.accept(identity, packet_id, read_back)
        return meta(row, packets.status_of(row))


@blp.route("/packets/<string:packet_id>/first-contact")
class PacketFirstContact(MethodView):
    @blp.action("packet.first_contact", errors=(404, 409, 413, 415, 422))
    @blp.arguments(FirstContactBody, example=FIRST_CONTACT_EXAMPLE)
    @blp.response(200, PacketMeta)
    def post(self, body: dict[str, Any], packet_id: str) -> dict[str, Any]:
        """The receiver of an accepted transfer records the first contact with the client
        (`meeting`, `phone`, `video` or `home_visit`; not in the future): the sender's escort
        ends, and so does a `first_contact_missing` escalation. Once only."""
        packets = services().packets
        row = packets.first_contact(current_identity(), packet_id, body["date"], body["mode"])
        return meta(row, packets.status_of(row))


@blp.route("/packets/<string:packet_id>/decline")
class PacketDecline(MethodView):
    @blp.action("packet.decline", errors=(404, 409, 413, 415, 422))
    @blp.arguments(DeclineBody)
    @blp.response(200, PacketMeta)
    def post(self, body: dict[str, Any], packet_id: str) -> dict[str, Any]:
        """Decline a packet, with the reason; the sender keeps the lead."""
        return _act(packet_id, "decline", body["reason"])


@blp.route("/packets/<string:packet_id>/withdraw")
class PacketWithdraw(MethodView):
    @blp.action("packet.withdraw", errors=(404, 409))
    @blp.response(200, PacketMeta)
    def post(self, packet_id: str) -> dict[str, Any]:
        """Withdraw a packet you sent, before it is accepted."""
        return _act(packet_id, "withdraw")


@blp.route("/packets/<string:packet_id>/events")
class PacketEventList(MethodView):
    @blp.action("packet.events", errors=(404,))
    @blp.response(200, PacketEvents)
    def get(self, packet_id: str) -> dict[str, Any]:
        """The packet's status history; the `accepted` event carries the read-back
        (`acknowledged_actions`, `synthesis`)."""
        identity = current_identity()
        packets = services().packets
        events = packets.events(identity, packet_id)
        row = packets.visible(identity, packet_id, "packet.read")
        return {"items": history(events, packets.read_back(row))}
