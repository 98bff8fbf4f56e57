"""What each problem ``code`` means to a person, in Finnish, Swedish and English.

The API's problem bodies carry an English ``detail`` for integrators; the web UI shows the
reader this text of the code instead, in the reader's language. ``tests/test_problem_texts.py``
finds every code the service can answer with and checks that it is here and translated.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext

_ = lazy_gettext

_CONSENT_STATE = _("The consent is no longer in a state that allows this.")

PROBLEM_TEXTS: Mapping[str, object] = {
    # --- the request itself ---------------------------------------------------------------
    "error": _("Something went wrong."),
    "malformed_request": _("The request could not be read."),
    "invalid_json": _("The request could not be read."),
    "duplicate_json_key": _("The request named the same field twice."),
    "invalid_header": _("A header of the request is not valid."),
    "invalid_text": _("Some text contains characters that cannot be stored."),
    "validation_failed": _("Some of the information given is not valid."),
    "body_too_large": _("The request is too large."),
    "unsupported_media_type": _("The request is in a format the service does not take."),
    "method_not_allowed": _("This cannot be done here."),
    "not_found": _("Not found, or you do not have access to it."),
    "conflict": _("This can no longer be done."),
    "forbidden": _("You are not allowed to do this."),
    "rate_limited": _("Too many requests. Wait a moment and try again."),
    "dependency_unavailable": _("The service is not available right now. Try again shortly."),
    "internal_error": _("Something went wrong. Try again shortly."),
    # --- who asks -------------------------------------------------------------------------
    "unauthenticated": _("Sign in first."),
    "not_signed_in": _("Sign in first."),
    "missing_token": _("The request carried no access token."),
    "token_not_in_header": _("The access token must be sent in the Authorization header."),
    "invalid_token": _("The access token is not valid."),
    "token_expired": _("The access token has expired."),
    "insufficient_scope": _("The system lacks the permission for this."),
    "acting_user_required": _("A person must be named as acting."),
    "acting_user_invalid": _("The person named as acting is not an active user here."),
    "role_required": _("Your role does not allow this."),
    "not_a_service_action": _("Only the service itself may do this."),
    # --- clients, leads, workers ----------------------------------------------------------
    "client_not_found": _("No such client among your organization's clients."),
    "organization_not_found": _("No such organization."),
    "worker_not_found": _("No such worker in your organization."),
    "lead_elsewhere": _("Another organization is responsible for the client now."),
    "already_active": _("The worker is active already."),
    # --- consents -------------------------------------------------------------------------
    "consent_error": _CONSENT_STATE,
    "consent_rule": _("The consent breaks a rule for consents."),
    "transition_not_allowed": _CONSENT_STATE,
    "consent_not_found": _("No such consent, or your organization is not a party to it."),
    "consent_missing": _("No consent or statute allows this exchange of information."),
    "consent_lapsed": _("The consent is no longer valid."),
    "four_eyes_required": _("You recorded this consent, so another social worker must approve it."),
    "not_the_approver": _("Another organization approves this consent."),
    "not_a_party": _("Your organization is not a party to this consent."),
    # A transition refused by the consent's status: ``consent_<status>``, one per status.
    "consent_pending": _("The consent is waiting for approval."),
    "consent_active": _("The consent is in force already."),
    "consent_rejected": _("The consent has been rejected."),
    "consent_withdrawn": _("The consent has been withdrawn."),
    "consent_expired": _("The consent has expired."),
    # --- hand-overs -----------------------------------------------------------------------
    "packet_not_found": _("No such hand-over, or your organization is not a party to it."),
    "packet_content_shredded": _("The hand-over's content has been destroyed."),
    "packet_integrity_failed": _("The hand-over's content failed its integrity check."),
    "integrity_failed": _("Stored data failed its integrity check. Tell the administrator."),
    "duplicate_packet": _("The same hand-over has been sent already."),
    "sender_mismatch": _("The sender named in the hand-over is not your organization."),
    "not_the_sender": _("Only the sender can do this."),
    "not_the_recipient": _("Only the recipient can do this."),
    "not_a_transfer": _("Only a transfer has a first contact."),
    "first_contact_recorded": _("The first contact has been recorded already."),
    "read_back_incomplete": _("Tick every action of the plan before accepting."),
    "idempotency_in_flight": _("The same request is being handled. Try again shortly."),
    "idempotency_key_reused": _("The request key was used for another request."),
    "invalid_jws": _("The hand-over's signature could not be read."),
    "invalid_signature": _("The hand-over's signature is not valid."),
    "unsupported_algorithm": _(
        "The hand-over is signed with an algorithm the service does not take."
    ),
    # An action refused by the packet's status: ``packet_<status>``, one per status.
    "packet_sent": _("The hand-over has not been accepted yet."),
    "packet_delivered": _("The hand-over has not been accepted yet."),
    "packet_accepted": _("The hand-over has been accepted already."),
    "packet_declined": _("The hand-over has been declined."),
    "packet_withdrawn": _("The hand-over has been withdrawn."),
    "packet_expired": _("The hand-over has expired."),
    "packet_blocked": _("The hand-over has been blocked."),
    # --- periods, reports, audit, notifications -------------------------------------------
    "period_not_found": _("No such service period."),
    "period_closed": _("The service period has ended already."),
    "report_too_small": _("Too few clients for a report: the people in it could be recognized."),
    "report_not_publishable": _(
        "Some figures are too small to show: the people in them could be recognized."
    ),
    "audit_log_damaged": _("The audit log has been altered. Tell the administrator."),
    "checkpoint_not_found": _("No such checkpoint."),
    "event_not_found": _("No such event in the audit log."),
    "delivery_not_found": _("No such notification."),
    "already_delivered": _("The notification has been delivered already."),
}


def problem_text(code: str) -> str:
    """The reader's text of ``code``; an unknown code reads as a general failure."""
    return str(PROBLEM_TEXTS.get(code, PROBLEM_TEXTS["error"]))
