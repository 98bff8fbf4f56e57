"""Consent endpoints (SPEC section 4, "Consents")."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template
from flask.views import MethodView

from adapters.db import utcnow
from exchange.acting import current_identity
from exchange.consents.models import Consent
from exchange.consents.receipts import page_context
from exchange.consents.service import to_record
from exchange.http import ApiBlueprint
from exchange.runtime import runtime
from exchange.services import services
from schemas.consents import (
    CONSENT_EXAMPLE,
    ConsentCheckOut,
    ConsentCheckRequest,
    ConsentCreate,
    ConsentListArgs,
    ConsentOut,
    ConsentPage,
    Reason,
    ReceiptArgs,
    ReceiptOut,
)

blp = ApiBlueprint("consents", __name__, url_prefix="/v1", description="Consents")


def present(row: Consent) -> dict[str, Any]:
    """A consent as the API shows it: the status now, stamps grouped."""

    def stamp(org: str | None, user: str | None, at: Any) -> dict[str, Any] | None:
        return {"organization": org, "user": user, "at": at} if org else None

    return {
        "id": row.id,
        "client_id": row.client_id,
        "decision": row.decision,
        "status": to_record(row).status_at(utcnow()),
        "grantor": {
            "type": row.grantor_type,
            **({"name": row.grantor_name} if row.grantor_name else {}),
        },
        "sources": row.sources,
        "recipients": row.recipients,
        "categories": row.categories,
        "purposes": row.purposes,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "method": row.method,
        "evidence": row.evidence,
        "language": row.language,
        "consent_text": {
            "version": row.text_version,
            "sha256": row.text_sha256,
            "language": row.language,
            "text": row.text,
        },
        "supersedes": row.supersedes,
        "approver_organization": row.approver_organization,
        "recorded": stamp(row.recorded_by_org, row.recorded_by_user, row.recorded_at),
        "decided": stamp(row.decided_by_org, row.decided_by_user, row.decided_at),
        "withdrawn": stamp(row.withdrawn_by_org, row.withdrawn_by_user, row.withdrawn_at),
        "events": row.events,
    }


@blp.route("/consents")
class Consents(MethodView):
    @blp.action("consent.record", errors=(404, 413, 415, 422))
    @blp.arguments(ConsentCreate, example=CONSENT_EXAMPLE)
    @blp.response(201, ConsentOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record a consent.

        A `permit` is recorded as `pending` and needs the approval of a social worker
        of its `approver_organization` (default: your own) other than the recorder;
        a `deny` (disclosure ban) is `active` at once. The plain-language text the
        client saw is stored with its template version and hash."""
        row = services().consents.record(current_identity(), body)
        return present(row)

    @blp.action("consent.list", errors=(422,))
    @blp.arguments(ConsentListArgs, location="query")
    @blp.response(200, ConsentPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the consents your organization may see (newest first).

        Filters: `client_id`, `status` (`expired` is computed), `expiring_within`
        (days; active consents ending that soon, for reminders). `status=pending`
        without `client_id` is the approval queue: the pending consents your
        organization is named to approve, with the others it may see."""
        page = services().consents.list_visible(current_identity(), args)
        return {"items": [present(row) for row in page.items], "next_cursor": page.next_cursor}


@blp.route("/consents/<string:consent_id>")
class ConsentItem(MethodView):
    @blp.action("consent.read", errors=(404,))
    @blp.response(200, ConsentOut)
    def get(self, consent_id: str) -> dict[str, Any]:
        """A consent with its event history."""
        return present(services().consents.read(current_identity(), consent_id))


@blp.route("/consents/<string:consent_id>/approve")
class ConsentApprove(MethodView):
    @blp.action("consent.approve", errors=(404, 409))
    @blp.response(200, ConsentOut)
    def post(self, consent_id: str) -> dict[str, Any]:
        """Approve a pending consent (`pending → active`).

        The acting user must be a social worker of the consent's approver organization
        (403 `not_the_approver` otherwise) and not the person who recorded it (403
        `four_eyes_required`)."""
        row = services().consents.approve(current_identity(), consent_id)
        return present(row)


@blp.route("/consents/<string:consent_id>/reject")
class ConsentReject(MethodView):
    @blp.action("consent.reject", errors=(404, 409, 413, 415, 422))
    @blp.arguments(Reason)
    @blp.response(200, ConsentOut)
    def post(self, body: dict[str, Any], consent_id: str) -> dict[str, Any]:
        """Reject a pending consent, with the reason (`pending → rejected`).

        The acting user must be a social worker of the consent's approver organization
        (403 `not_the_approver` otherwise)."""
        row = services().consents.reject(current_identity(), consent_id, body["reason"])
        return present(row)


@blp.route("/consents/<string:consent_id>/withdraw")
class ConsentWithdraw(MethodView):
    @blp.action("consent.withdraw", errors=(404, 409, 413, 415, 422))
    @blp.arguments(Reason)
    @blp.response(200, ConsentOut)
    def post(self, body: dict[str, Any], consent_id: str) -> dict[str, Any]:
        """Withdraw a consent on the client's request; effective immediately everywhere.

        The acting user is recorded as the person who took the client's request."""
        row = services().consents.withdraw(current_identity(), consent_id, body["reason"])
        return present(row)


@blp.route("/consents/<string:consent_id>/receipt")
class ConsentReceipt(MethodView):
    @blp.action("consent.receipt", errors=(404,))
    @blp.arguments(ReceiptArgs, location="query")
    @blp.response(200, ReceiptOut)
    @blp.also_returns(text_html="Printable page (`format=html`)")
    def get(self, args: dict[str, Any], consent_id: str) -> Any:
        """The client's receipt: signed JSON (JWS, service key) or a printable page."""
        row, document, signed, orgs = services().consents.receipt(
            current_identity(), consent_id, runtime().config["ISSUER"]
        )
        if args["format"] == "html":
            person = services().clients.for_printout(row.client_id)
            html = render_template("receipt.html", **page_context(row, document, orgs, person))
            return Response(html, mimetype="text/html")
        return {"receipt": document, "jws": signed}


@blp.route("/consent-checks")
class ConsentChecks(MethodView):
    @blp.action("consent.check", errors=(404, 413, 415, 422))
    @blp.arguments(ConsentCheckRequest)
    @blp.response(200, ConsentCheckOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Would this disclosure be allowed now? One decision per category, with its basis.

        Only the source or the recipient organization may ask."""
        decision = services().consents.check(current_identity(), body)
        language = body["language"]
        return {
            "allowed": decision.allowed,
            "decisions": [
                {
                    "category": item.category,
                    "allowed": item.allowed,
                    "basis": item.basis,
                    "consent_id": item.consent_id,
                    "statute": item.statute,
                    "reason": item.reason_in(language),
                }
                for item in decision.decisions
            ],
        }
