"""What a reader sees for each value of the closed vocabularies, in Finnish, Swedish and English.

The API speaks in codes (``pending``, ``kuntouttava_tyotoiminta``, ``consent.read``); people
read labels. Every page, printout and export asks ``label(vocabulary, value)``, so a value has
one label everywhere; ``tests/test_labels.py`` checks that every value of every vocabulary
has one, and the catalogs translate them. An audit action's label is its summary
in ``exchange.policy`` (extracted for translation from there), so that a new
action is labelled where it is declared.

``describe_detail`` reads the detail column of the audit log and of packet events: the
service writes codes, ``key=value`` lists and a few fixed sentences there, which it turns
into the reader's language; what a person wrote (a reason for declining) is shown as written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping

from flask_babel import format_date, gettext, lazy_gettext

from exchange.policy import ACTIONS
from exchange.problem_texts import PROBLEM_TEXTS

_ = lazy_gettext

PACKET_STATUS = {
    "sent": _("sent"),
    "delivered": _("delivered"),
    "accepted": _("accepted"),
    "declined": _("declined"),
    "withdrawn": _("withdrawn"),
    "expired": _("expired"),
    "blocked": _("blocked"),
}
VOCABULARIES: Mapping[str, Mapping[str, object]] = {
    "consent_status": {
        "pending": _("Waiting for approval"),
        "active": _("In force"),
        "rejected": _("Rejected"),
        "withdrawn": _("Withdrawn"),
        "expired": _("Expired"),
    },
    "decision": {"permit": _("permit"), "deny": _("ban")},
    "method": {
        "electronic_strong_auth": _("Electronically, with strong identification"),
        "signed_paper": _("On a signed paper form"),
        "verbal_witnessed": _("Orally, with a witness present"),
    },
    "grantor_type": {
        "self": _("The client themselves"),
        "guardian": _("Guardian"),
        "legal_representative": _("Legal representative"),
    },
    "packet_status": PACKET_STATUS,
    # What happened to a packet: its statuses and the other events of its history.
    "packet_event": {
        **PACKET_STATUS,
        "reassigned": _("reassigned"),
        "shredded": _("content destroyed"),
        "first_contact": _("first contact"),
        "escalated": _("escalated"),
    },
    "packet_kind": {"transfer": _("transfer"), "information": _("information")},
    "section": {
        "assessment": _("Assessment"),
        "plan": _("Plan"),
        "contact_persons": _("Contact persons"),
        "service_period": _("Service period"),
        "benefits": _("Benefits"),
        "health": _("Health"),
    },
    "instrument": {
        "kykyviisari": _("Kykyviisari"),
        "vat": _("VAT (support system for assessing coaching)"),
        "doctor_statement_summary": _("Summary of a doctor's statement"),
        "other": _("Other"),
    },
    # The domains of Kykyviisari and of the other instruments that senders use; a sender may
    # name others (``scores`` is open), which are shown as written.
    "score_domain": {
        "health": _("Health and well-being"),
        "functional_capacity": _("Functional capacity"),
        "competence": _("Competence"),
        "values_attitudes": _("Values and attitudes"),
        "work": _("Work"),
        "work_ability": _("Work ability"),
        "family": _("Family and close relationships"),
        "leisure": _("Leisure"),
        "living_environment": _("Living environment"),
        "motivation": _("Motivation"),
        "social_relationships": _("Social relationships"),
        "everyday_skills": _("Everyday skills"),
    },
    "plan_kind": {
        "activation_plan": _("Activation plan"),
        "rehabilitation_service_plan": _("Rehabilitation service plan"),
        "employment_plan": _("Employment plan"),
        "client_plan": _("Client plan"),
    },
    "goal_status": {
        "open": _("not started"),
        "in_progress": _("in progress"),
        "achieved": _("achieved"),
        "dropped": _("dropped"),
    },
    "contact_role": {
        "responsible_worker": _("responsible worker"),
        "social_worker": _("social worker"),
        "coach": _("job coach"),
        "te_expert": _("employment services expert"),
        "kela_contact": _("Kela contact"),
        "physician": _("physician"),
        "psychologist": _("psychologist"),
        "occupational_therapist": _("occupational therapist"),
        "physiotherapist": _("physiotherapist"),
        "family_member": _("family member"),
        "guardian": _("guardian"),
        "support_person": _("support person"),
        "interpreter": _("interpreter"),
        "teacher": _("teacher"),
    },
    "service": {
        "kuntouttava_tyotoiminta": _("rehabilitative work activity (kuty)"),
        "vammaisten_tyotoiminta": _("work activity for disabled people"),
        "kehitysvammaisten_tyotoiminta": _(
            "work activity for people with intellectual disabilities"
        ),
        "tyohonvalmennus": _("job coaching"),
        "tyollistymista_tukeva_toiminta": _(
            "activity supporting the employment of disabled people"
        ),
    },
    "basis": {"consent": _("consent"), "statute": _("statute")},
    "action_owner": {"sender": _("the sender"), "receiver": _("the receiver")},
    "contact_mode": {
        "meeting": _("meeting"),
        "phone": _("phone call"),
        "video": _("video call"),
        "home_visit": _("home visit"),
    },
    "period_status": {"open": _("ongoing"), "closed": _("ended")},
    "period_outcome": {
        "employed": _("Employed"),
        "subsidised_employment": _("Subsidised employment"),
        "studies": _("Studies"),
        "unemployed_jobseeker": _("Unemployed jobseeker"),
        "employment_services_measure": _("Employment services measure"),
        "continued_same_service": _("Continued in the same service"),
        "social_health_services": _("Social and health services"),
        "other_livelihood": _("Other livelihood"),
        "moved_away": _("Moved away"),
        "unknown": _("Unknown"),
    },
    "next_step": {
        "employment": _("employment"),
        "studies": _("studies"),
        "employment_services": _("employment services"),
        "same_service": _("the same service again"),
        "other_service": _("another service"),
        "social_health_services": _("social and health services"),
        "benefits_only": _("benefits only"),
        "none_needed": _("nothing needed"),
    },
    "role": {
        "social_worker": _("social worker"),
        "staff": _("worker"),
        "auditor": _("auditor"),
        "admin": _("administrator"),
        "reporter": _("reporter"),
    },
    "audit_outcome": {"allowed": _("allowed"), "denied": _("denied")},
    # What an audit event is about.
    "resource_type": {
        "access_report": _("access report"),
        "audit_checkpoint": _("checkpoint"),
        "audit_checkpoints": _("checkpoints"),
        "audit_consistency": _("consistency proof"),
        "audit_event": _("audit event"),
        "audit_events": _("audit events"),
        "audit_proof": _("inclusion proof"),
        "audit_verify": _("verification of the log"),
        "client": _("client"),
        "consent": _("consent"),
        "consent_list": _("list of consents"),
        "consent_receipt": _("consent receipt"),
        "disclosure": _("disclosure check"),
        "lead": _("responsibility for a client"),
        "oauth_client": _("system"),
        "organization": _("organization"),
        "packet": _("hand-over"),
        "packet_events": _("history of a hand-over"),
        "report": _("report"),
        "service_period": _("service period"),
        "user": _("worker"),
        "webhook_delivery": _("notification"),
    },
    # Actions the audit log records that are not actions a caller asks for by name.
    "audit_action": {
        "audit.read": _("Read the audit log"),
        "auth.access": _("Use the API"),
        "auth.acting_user": _("Act for a person"),
        "auth.rate_limit": _("Too many requests"),
        "auth.scope": _("Use a permission (scope)"),
        "auth.token": _("Get an access token"),
        "lead.change": _("Change a client's lead"),
        "packet.block": _("Block a packet"),
        "packet.shred": _("Destroy a packet's content"),
        "web.page": _("Open a page"),
    },
}


def label(vocabulary: str, value: str | None) -> str:
    """The reader's label of ``value``; a value the vocabulary lacks is shown as given (an open
    vocabulary's, such as a sender's own score domain), with its underscores as spaces."""
    if value is None or value == "":
        return "–"
    if vocabulary in ("audit_action", "resource_type") and value in ACTIONS:
        # A refusal of scope names the action refused as its target.
        return str(gettext(ACTIONS[value].summary))
    found = VOCABULARIES[vocabulary].get(value)
    return str(found) if found is not None else value.replace("_", " ")


def choices(vocabulary: str) -> list[tuple[str, str]]:
    """(value, label) of every value of ``vocabulary``, by label: a form's options."""
    values = list(VOCABULARIES[vocabulary])
    if vocabulary == "audit_action":
        values += list(ACTIONS)
    return sorted(((value, label(vocabulary, value)) for value in values), key=lambda c: c[1])


def knows(vocabulary: str, value: str) -> bool:
    if vocabulary == "audit_action" and value in ACTIONS:
        return True
    return value in VOCABULARIES[vocabulary]


# The keys of the service's ``key=value`` and JSON details, and the vocabulary of their values.
DETAIL_KEYS: Mapping[str, tuple[object, str | None]] = {
    "leads": (_("clients"), None),
    "packets": (_("hand-overs"), None),
    "escorts": (_("escorts"), None),
    "first_contacts": (_("first contacts"), None),
    "successor": (_("successor"), None),
    "ok": (_("intact"), "yes_no"),
    "from": (_("from"), None),
    "to": (_("to"), None),
    "organization": (_("organization"), None),
    "service": (_("service"), "service"),
    "group_by": (_("grouped by"), "grouping"),
    "outcome": (_("outcome"), "audit_outcome"),
    "action": (_("action"), "audit_action"),
    "client_id": (_("client"), None),
    "actor": (_("who"), None),
}
_SMALL = {
    "yes_no": {"True": _("yes"), "False": _("no"), "true": _("yes"), "false": _("no")},
    "grouping": {
        "none": _("no grouping"),
        "organization": _("organization"),
        "service": _("service"),
    },
    # Words of the details that are no problem code (those read as ``PROBLEM_TEXTS``).
    "fixed": {
        "unassigned": _("unassigned queue"),
        "*": _("all"),
        "on demand": _("on demand"),
        "retention period ended": _("the retention period ended"),
        "invalid_authorization_header": _("The authorization header was malformed."),
        "content_shredded": _("The content has been destroyed."),
        "client_inactive": _("The system has been deactivated."),
        "token": _("too many token requests"),
        "api": _("too many requests"),
    },
}
_PAIRS = re.compile(r"^(\w+=\S*)( \w+=\S*)*$")
_LEFT = re.compile(r"^(?P<who>\S+) left; now (?P<now>\S+)$")
_BASIS_GONE = re.compile(r"^legal basis gone for (?P<categories>[\w, ]+)$")
_CONTACT = re.compile(r"^(?P<mode>\w+) on (?P<date>\d{4}-\d{2}-\d{2})(?P<late> \(late\))?$")
_MISSING = re.compile(r"^first_contact_missing: first_contact_by (?P<date>\S+) passed$")


def _value(vocabulary: str | None, value: str) -> str:
    fixed = _SMALL["fixed"].get(value)
    if fixed is not None:
        return str(fixed)
    if vocabulary in _SMALL:
        return str(_SMALL[vocabulary].get(value, value))
    if vocabulary is not None and knows(vocabulary, value):
        return label(vocabulary, value)
    return value


def _pairs(pairs: list[tuple[str, str]]) -> str:
    shown = []
    for key, value in pairs:
        name, vocabulary = DETAIL_KEYS.get(key, (key, None))
        shown.append(f"{name}: {_value(vocabulary, str(value))}")
    return ", ".join(shown)


def _split_pair(pair: str) -> tuple[str, str, str]:
    return pair.partition("=")


def _local_day(iso: str) -> str:
    """A date the service wrote (ISO), as the pages write dates."""
    return str(format_date(dt.date.fromisoformat(iso[:10]), "short"))


def describe_detail(detail: str | None) -> str:
    """The detail of an audit event or a packet event, in the reader's language."""
    if not detail:
        return "–"
    text = detail.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return _pairs([(key, value) for key, value in parsed.items() if value is not None])
    if _PAIRS.match(text):
        return _pairs([(key, value) for key, _, value in map(_split_pair, text.split(" "))])
    if found := _LEFT.match(text):
        return str(
            gettext("%(who)s left; now %(now)s", who=found["who"], now=_value(None, found["now"]))
        )
    if found := _BASIS_GONE.match(text):
        categories = ", ".join(
            label("section", name.strip()) for name in found["categories"].split(",")
        )
        return str(gettext("The legal basis ended for: %(categories)s", categories=categories))
    if found := _CONTACT.match(text):
        said = str(
            gettext(
                "%(mode)s on %(date)s",
                mode=label("contact_mode", found["mode"]),
                date=_local_day(found["date"]),
            )
        )
        return said + (" " + gettext("(late)") if found["late"] else "")
    if found := _MISSING.match(text):
        return str(
            gettext(
                "The first contact was due by %(date)s and is missing.",
                date=_local_day(found["date"]),
            )
        )
    if text in PROBLEM_TEXTS:
        return str(PROBLEM_TEXTS[text])
    for vocabulary in ("period_outcome", "section", "audit_outcome"):
        if knows(vocabulary, text):
            return label(vocabulary, text)
    return _value(None, text)
