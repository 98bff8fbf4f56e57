"""Lead, staff-change and escalation endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from exchange.acting import current_identity
from exchange.http import ApiBlueprint
from exchange.packets.presenters import escalation, meta
from exchange.services import services
from schemas.packets import (
    ActivateOut,
    DeactivateBody,
    DeactivateOut,
    EscalationsOut,
    LeadAssign,
    LeadOut,
    UnassignedOut,
)

blp = ApiBlueprint(
    "continuity", __name__, url_prefix="/v1", description="Leads, staff changes, escalations"
)


def lead_out(lead: Any, client_id: str) -> dict[str, Any]:
    """The lead with the escort shown beside it (the sender of an accepted transfer until the
    receiver's first contact)."""
    escort = services().continuity.escort_of(client_id)
    shown = (
        None
        if escort is None
        else {
            "organization": escort.sender_org,
            "worker": escort.escort_worker,
            "first_contact_by": escort.first_contact_by,
        }
    )
    if lead is None:
        return {"organization": None, "worker": None, "since": None, "escort": shown}
    return {
        "organization": lead.organization_id,
        "worker": lead.worker,
        "since": lead.since,
        "escort": shown,
    }


@blp.route("/clients/<string:client_id>/lead")
class ClientLead(MethodView):
    @blp.action("lead.read", errors=(404,))
    @blp.response(200, LeadOut)
    def get(self, client_id: str) -> dict[str, Any]:
        """The client's current lead, for organizations involved with the client, with the
        escort: the sender of the latest accepted transfer until the first contact."""
        lead = services().continuity.lead_of(current_identity(), client_id)
        return lead_out(lead, client_id)

    @blp.action("lead.assign", errors=(404, 409, 413, 415, 422))
    @blp.arguments(LeadAssign)
    @blp.response(200, LeadOut)
    def post(self, body: dict[str, Any], client_id: str) -> dict[str, Any]:
        """Make a worker of your organization the lead (when there is none, or it is already yours).

        Moving a client to another organization is always a `transfer` packet."""
        lead = services().continuity.assign(current_identity(), client_id, body["worker"])
        return lead_out(lead, client_id)


@blp.route("/workers/<string:username>/deactivate")
class WorkerDeactivate(MethodView):
    @blp.action("worker.deactivate", errors=(404, 413, 415, 422))
    @blp.arguments(DeactivateBody)
    @blp.response(200, DeactivateOut)
    def post(self, body: dict[str, Any], username: str) -> dict[str, Any]:
        """A worker leaves: their leads, the packets addressed to them, the transfers they
        escort and the first contacts they were to make move to the successor, or to the
        organization's unassigned queue when the successor is null."""
        report = services().continuity.deactivate(current_identity(), username, body["successor"])
        return {
            "username": username,
            "successor": report.successor,
            "leads_moved": report.leads_moved,
            "packets_moved": report.packets_moved,
            "escorts_moved": report.escorts_moved,
            "first_contacts_moved": report.first_contacts_moved,
        }


@blp.route("/workers/<string:username>/activate")
class WorkerActivate(MethodView):
    @blp.action("worker.activate", errors=(404, 409))
    @blp.response(200, ActivateOut)
    def post(self, username: str) -> dict[str, Any]:
        """Undo a deactivation (acting `admin`). `exchange registry load` never does: a person
        deactivated through the service stays deactivated until this is called."""
        user = services().continuity.activate(current_identity(), username)
        return {"username": user.username, "active": user.active}


@blp.route("/organizations/<string:organization_id>/unassigned")
class Unassigned(MethodView):
    @blp.action("lead.unassigned", errors=(404,))
    @blp.response(200, UnassignedOut)
    def get(self, organization_id: str) -> dict[str, Any]:
        """Clients whose lead is this organization with no active worker."""
        return {"items": services().continuity.unassigned(current_identity(), organization_id)}


@blp.route("/escalations")
class Escalations(MethodView):
    @blp.action("escalation.list")
    @blp.response(200, EscalationsOut)
    def get(self) -> dict[str, Any]:
        """Expired transfers, transfers due within three days, unassigned clients, service
        periods ending within 30 days without a next step, and clients due for a
        multi-professional review (three periods in a row ended in the same service), and
        accepted transfers without a first contact past `first_contact_by`
        (`first_contact_missing`, for the sender and the receiver alike)."""
        identity = current_identity()
        found = services().continuity.escalations(identity)
        packets = services().packets
        periods = services().periods
        return {
            "expired_transfers": [
                meta(row, packets.status_of(row)) for row in found["expired_transfers"]
            ],
            "due_soon": [meta(row, packets.status_of(row)) for row in found["due_soon"]],
            "unassigned_clients": found["unassigned_clients"],
            "periods_ending_without_next_step": periods.ending_without_next_step(identity),
            "review_needed": periods.review_needed(identity),
            "first_contact_missing": [
                escalation(row, packets.status_of(row)) for row in found["first_contact_missing"]
            ],
        }
