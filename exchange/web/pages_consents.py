"""Consent pages: record with a preview, withdraw on the client's request, print the receipt.

Nothing here decides a rule. The form is read with WTForms (CSRF, dates, lists),
then checked by the API's own schema (``ConsentCreate``) and recorded by
``ConsentService.record``; what they refuse comes back as field paths
(``valid_until``, ``evidence.reference``) and is shown next to the form field
it concerns. The preview renders the text with ``render_consent_text`` exactly
as ``ConsentService.record`` does and saves nothing.

The identity code is never logged and never put into a URL; after a successful
save the answer is a redirect to the consent's own page, which does not show it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Iterable, Sequence
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm
from marshmallow import ValidationError
from wtforms import DateField, SelectMultipleField, StringField
from wtforms.validators import Optional

from adapters.db import utcnow
from consent import model
from consent.identifiers import InvalidIdentifier, normalize_hetu
from consent.texts import category_label, purpose_label, render_consent_text
from consent.vocabulary import CATEGORIES, PURPOSES
from exchange import policy
from exchange.acting import current_identity
from exchange.consents.models import Consent
from exchange.consents.receipts import page_context
from exchange.consents.service import to_record
from exchange.errors import FieldError, Invalid
from exchange.problem_texts import problem_text
from exchange.registry.service import SUPERVISOR_NOT_A_PARTY
from exchange.runtime import runtime
from exchange.services import services
from exchange.web import (
    DATE_FORMATS,
    ActionForm,
    ReasonForm,
    blp,
    organization_choices,
    select_locale,
    signed_in,
)
from exchange.web.auth import page
from schemas import flatten_errors
from schemas.consents import ConsentCreate

# Form field of each input path the schema or the service may name (``sources[2]`` → sources).
_PLAIN_FIELDS = {
    "decision",
    "sources",
    "recipients",
    "categories",
    "purposes",
    "valid_from",
    "valid_until",
    "method",
    "language",
    "approver_organization",
}
_NESTED_FIELDS = {
    "client": "hetu",
    "client.hetu": "hetu",
    "client.id": "hetu",
    "grantor": "grantor_type",
    "grantor.type": "grantor_type",
    "grantor.name": "grantor_name",
    "evidence": "evidence_reference",
    "evidence.reference": "evidence_reference",
    "evidence.witness_name": "evidence_witness_name",
}
# The id of the input an error summary link jumps to (the first option of a group).
_GROUPS = {"decision", "grantor_type", "sources", "recipients", "categories", "purposes", "method"}
_FIELD_ORDER = (
    "hetu",
    "decision",
    "grantor_type",
    "grantor_name",
    "sources",
    "recipients",
    "categories",
    "purposes",
    "valid_from",
    "valid_until",
    "method",
    "evidence_reference",
    "evidence_witness_name",
    "language",
    "approver_organization",
)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class ConsentForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """What a worker types in; the rules are checked by the schema and the service."""

    hetu = StringField(filters=[_strip])
    decision = StringField(filters=[_strip])
    grantor_type = StringField(filters=[_strip], default="self")
    grantor_name = StringField(filters=[_strip])
    sources = SelectMultipleField(validate_choice=False)
    recipients = SelectMultipleField(validate_choice=False)
    categories = SelectMultipleField(validate_choice=False)
    purposes = SelectMultipleField(validate_choice=False)
    valid_from = DateField(validators=[Optional()], format=DATE_FORMATS)
    valid_until = DateField(validators=[Optional()], format=DATE_FORMATS)
    method = StringField(filters=[_strip])
    evidence_reference = StringField(filters=[_strip])
    evidence_witness_name = StringField(filters=[_strip])
    language = StringField(filters=[_strip])
    approver_organization = StringField(filters=[_strip])

    def problems(self) -> dict[str, list[str]]:
        """What is missing or unreadable, by field (after ``validate``), in the UI language."""
        errors: dict[str, list[str]] = {}
        for name in ("valid_from", "valid_until"):
            if getattr(self, name).errors:
                errors[name] = [gettext("Enter a real date, for example 31.12.2026.")]
        required = {
            "hetu": gettext("Enter the client's personal identity code."),
            "decision": gettext("Choose whether the client permits or forbids sharing."),
            "grantor_type": gettext("Choose who gives the consent."),
            "sources": gettext("Choose at least one organization that gives information."),
            "recipients": gettext("Choose at least one organization that receives information."),
            "categories": gettext("Choose at least one kind of information."),
            "purposes": gettext("Choose at least one purpose."),
            "valid_until": gettext("Enter the date until which the consent is valid."),
            "method": gettext("Choose how the client gave the consent."),
            "language": gettext("Choose the language of the text."),
        }
        for name, message in required.items():
            if not getattr(self, name).data and name not in errors:
                errors[name] = [message]
        if self.hetu.data and "hetu" not in errors:
            try:
                self.hetu.data = normalize_hetu(self.hetu.data)
            except InvalidIdentifier:
                errors["hetu"] = [
                    gettext(
                        "This is not a valid personal identity code. Check the date, "
                        "the century sign and the check character."
                    )
                ]
        return errors

    def body(self) -> dict[str, Any]:
        """The request body the API would receive for the same consent."""
        grantor = {"type": self.grantor_type.data}
        if self.grantor_name.data:
            grantor["name"] = self.grantor_name.data
        evidence = {
            key: value
            for key, value in (
                ("reference", self.evidence_reference.data),
                ("witness_name", self.evidence_witness_name.data),
            )
            if value
        }
        body: dict[str, Any] = {
            "client": {"hetu": self.hetu.data},
            "grantor": grantor,
            "decision": self.decision.data,
            "sources": list(self.sources.data),
            "recipients": list(self.recipients.data),
            "categories": list(self.categories.data),
            "purposes": list(self.purposes.data),
            "method": self.method.data,
            "evidence": evidence,
            "language": self.language.data,
        }
        # Left out, the recorder's own organization approves (as over the API).
        if self.approver_organization.data:
            body["approver_organization"] = self.approver_organization.data
        if self.valid_from.data:
            body["valid_from"] = self.valid_from.data.isoformat()
        if self.valid_until.data:
            body["valid_until"] = self.valid_until.data.isoformat()
        return body

    def terms(self, today: dt.date) -> tuple[model.Terms, bool]:
        """The domain rules' view of what was typed, and whether it has an end date to check."""
        start = self.valid_from.data or today
        return model.Terms(
            decision=self.decision.data or "",
            grantor_type=self.grantor_type.data or "",
            method=self.method.data or "",
            evidence=self.body()["evidence"],
            valid_from=start,
            valid_until=self.valid_until.data or start,
        ), self.valid_until.data is not None


def _field_of(path: str) -> str | None:
    bare = re.sub(r"\[\d+\]", "", path)
    if bare in _PLAIN_FIELDS:
        return bare
    return _NESTED_FIELDS.get(bare)


def _say(message: str) -> str:
    """A message of the schema or the domain rules, in the UI language where it is known."""
    known: dict[str, str] = {
        "Must not be before valid_from.": gettext(
            "The end date must not be before the start date."
        ),
        "Must not be in the past.": gettext("The end date must not be in the past."),
        "May start at most 12 months from today.": gettext(
            "The start date may be at most 12 months from today."
        ),
        "Only the client can set a disclosure ban, not a representative.": gettext(
            "Only the client can set a ban on sharing, not a guardian or a representative."
        ),
        "A signed paper form needs its reference.": gettext(
            "Give the reference of the signed paper form."
        ),
        "A verbal consent needs a named witness.": gettext(
            "Give the name of the witness of the oral consent."
        ),
        "A guardian or legal representative must be named.": gettext(
            "Give the name of the guardian or legal representative."
        ),
        "Give a name only for a guardian or legal representative.": gettext(
            "Leave the name empty when the client gives the consent themselves."
        ),
    }
    if message in known:
        return known[message]
    longest = re.fullmatch(r"A consent may last at most (\d+) months\.", message)
    if longest:
        return str(
            gettext("A consent may last at most %(months)s months.", months=longest.group(1))
        )
    if message.startswith("Unknown organization"):
        return str(gettext("This organization is not registered."))
    if message.endswith(SUPERVISOR_NOT_A_PARTY):
        return str(
            gettext(
                "A supervisory organization only audits; it cannot give or receive information."
            )
        )
    return message


def _merge(
    errors: dict[str, list[str]],
    general: list[str],
    found: Iterable[FieldError],
    skip: Container[str] = (),
) -> None:
    """Put each error by field path next to its form field (or above the form); fields in
    ``skip`` keep the problem they have."""
    for error in found:
        name = _field_of(error.field)
        message = _say(error.message)
        if name is None:
            if message not in general:
                general.append(message)
        elif name not in skip and message not in errors.setdefault(name, []):
            errors[name].append(message)


def _further_problems(form: ConsentForm) -> list[FieldError]:
    """What the schema and the domain rules say about the fields that were given, so that a
    form with missing fields lists every problem at once and not one round after another."""
    found: list[FieldError] = []
    try:
        ConsentCreate().load(form.body())
    except ValidationError as exc:
        found += flatten_errors(exc.messages)
    today = model.local_date(utcnow())
    terms, has_end = form.terms(today)
    found += [
        FieldError(problem.field, problem.message)
        for problem in model.term_violations(terms, today, services().consents.max_months)
        if has_end or problem.field != "valid_until"
    ]
    return found


def _labels() -> dict[str, str]:
    return {
        "hetu": gettext("Client's personal identity code"),
        "decision": gettext("Decision"),
        "grantor_type": gettext("Who gives the consent"),
        "grantor_name": gettext("Name of the guardian or legal representative"),
        "sources": gettext("Organizations that may give information"),
        "recipients": gettext("Organizations that may receive information"),
        "categories": gettext("Information covered"),
        "purposes": gettext("Purposes"),
        "valid_from": gettext("Valid from"),
        "valid_until": gettext("Valid until"),
        "method": gettext("How the consent was given"),
        "evidence_reference": gettext("Reference of the signed paper form"),
        "evidence_witness_name": gettext("Name of the witness"),
        "language": gettext("Language of the text the client sees"),
        "approver_organization": gettext("Organization that approves the consent"),
    }


def _render_form(
    form: ConsentForm,
    errors: dict[str, list[str]],
    general: Sequence[str],
    preview: dict[str, Any] | None,
    status: int,
) -> tuple[str, int]:
    ui = select_locale()
    labels = _labels()
    summary = [
        (f"{name}-0" if name in _GROUPS else name, f"{labels[name]}: {message}")
        for name in _FIELD_ORDER
        for message in errors.get(name, [])
    ]
    page = render_template(
        "web/consent_new.html",
        form=form,
        errors=errors,
        general=general,
        summary=summary,
        labels=labels,
        organizations=organization_choices(services().registry.parties()),
        categories=[(code, category_label(ui, code)) for code in CATEGORIES],
        purposes=[(code, purpose_label(ui, code)) for code in PURPOSES],
        preview=preview,
        max_months=services().consents.max_months,
    )
    return page, status


def _preview(loaded: dict[str, Any]) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The text and the exchange summary of a consent not yet saved, or what stops it."""
    ui = select_locale()
    today = model.local_date(utcnow())
    valid_from: dt.date = loaded.get("valid_from") or today
    approver = loaded.get("approver_organization")
    parties = [*loaded["sources"], *loaded["recipients"]]
    names = services().registry.names([*parties, *([approver] if approver else [])], ui)
    supervisors = services().registry.supervisors(names)
    problems = [
        FieldError(f"{group}[{index}]", f"Unknown organization {org_id!r}.")
        for group in ("sources", "recipients")
        for index, org_id in enumerate(loaded[group])
        if org_id not in names
    ]
    if approver and approver not in names:
        problems.append(FieldError("approver_organization", f"Unknown organization {approver!r}."))
    problems += [
        FieldError(f"{group}[{index}]", f"{org_id!r} {SUPERVISOR_NOT_A_PARTY}")
        for group in ("sources", "recipients")
        for index, org_id in enumerate(loaded[group])
        if org_id in supervisors
    ]
    if approver in supervisors:
        problems.append(
            FieldError("approver_organization", f"{approver!r} {SUPERVISOR_NOT_A_PARTY}")
        )
    terms = model.Terms(
        decision=loaded["decision"],
        grantor_type=loaded["grantor"]["type"],
        method=loaded["method"],
        evidence=loaded["evidence"],
        valid_from=valid_from,
        valid_until=loaded["valid_until"],
    )
    problems += [
        FieldError(problem.field, problem.message)
        for problem in model.term_violations(terms, today, services().consents.max_months)
    ]
    if problems:
        return None, problems
    grantor = loaded["grantor"]
    # The same call ConsentService.record makes, with the organizations' names in the text's
    # language; the table below it names them in the page's.
    in_text = services().registry.names(parties, loaded["language"])
    text = render_consent_text(
        loaded["language"],
        decision=loaded["decision"],
        grantor_type=grantor["type"],
        grantor_name=grantor.get("name"),
        sources=[in_text[o] for o in loaded["sources"]],
        recipients=[in_text[o] for o in loaded["recipients"]],
        categories=loaded["categories"],
        purposes=loaded["purposes"],
        valid_from=valid_from,
        valid_until=loaded["valid_until"],
    )
    return {
        "text": text.text,
        "language": text.language,
        "version": text.version,
        **_exchanges(names, {**loaded, "valid_from": valid_from}),
    }, []


def _exchanges(names: dict[str, str], terms: dict[str, Any]) -> dict[str, Any]:
    """Which organizations may exchange which information, in the page's language: the table
    under the client's text, before recording and on the recorded consent alike."""
    ui = select_locale()
    by_name = sorted(names.items(), key=lambda item: item[1])
    return {
        "decision": terms["decision"],
        "pairs": [
            {"source": source_name, "recipient": recipient_name}
            for source, source_name in by_name
            if source in terms["sources"]
            for recipient, recipient_name in by_name
            if recipient in terms["recipients"] and recipient != source
        ],
        "categories": [category_label(ui, c) for c in CATEGORIES if c in terms["categories"]],
        "purposes": [purpose_label(ui, p) for p in PURPOSES if p in terms["purposes"]],
        "valid_from": terms["valid_from"],
        "valid_until": terms["valid_until"],
    }


def _recorded_preview(row: Consent, names: dict[str, str]) -> dict[str, Any]:
    """The preview of a recorded consent: the stored text the client saw, and its exchanges."""
    return {
        "text": row.text,
        "language": row.language,
        "version": row.text_version,
        **_exchanges(
            names,
            {
                "decision": row.decision,
                "sources": row.sources,
                "recipients": row.recipients,
                "categories": row.categories,
                "purposes": row.purposes,
                "valid_from": row.valid_from,
                "valid_until": row.valid_until,
            },
        ),
    }


@blp.get("/consents/<string:consent_id>")
@page("consent.read")
def consent(consent_id: str) -> str:
    """What the approver approves: the terms, how the consent was given, who gave and recorded
    it, the text the client saw, and its history."""
    user = signed_in()
    identity = current_identity()
    found = services()
    row = found.consents.read(identity, consent_id)
    may_decide = policy.permits(identity, "consent.approve")
    # The role comes from the policy, the rest from the consent's own rule, as in the action.
    refused = found.consents.decision_refusal(identity, row) if may_decide else None
    names = found.registry.names(
        [*row.sources, *row.recipients, row.approver_organization, row.recorded_by_org],
        select_locale(),
    )
    return render_template(
        "web/consent.html",
        user=user,
        consent=row,
        client=found.clients.shown(identity, row.client_id),
        status=to_record(row).status_at(utcnow()),
        approver_name=names.get(row.approver_organization, row.approver_organization),
        recorder_name=names.get(row.recorded_by_org, row.recorded_by_org),
        preview=_recorded_preview(row, names),
        labels=_labels(),
        may_decide=may_decide,
        refused=refused.code if refused is not None else None,
        action=ActionForm(),
        reject=ReasonForm(),
    )


@blp.route("/consents/new", methods=["GET", "POST"])
@page("consent.record")
def consent_new() -> Any:
    """Record a consent; **Preview** shows the client's text and saves nothing."""
    if request.method != "POST":
        form = ConsentForm(
            language=select_locale(), approver_organization=current_identity().organization
        )
        return _render_form(form, {}, [], None, 200)
    form = ConsentForm()
    if not form.validate() and "csrf_token" in form.errors:
        message = gettext("The form had expired. Please try again.")
        return _render_form(form, {}, [message], None, 400)
    errors = form.problems()
    general: list[str] = []
    if errors:
        _merge(errors, general, _further_problems(form), skip=set(errors))
        return _render_form(form, errors, general, None, 422)
    try:
        loaded: dict[str, Any] = ConsentCreate().load(form.body())
    except ValidationError:
        # The schema's problems and the domain rules' together.
        _merge(errors, general, _further_problems(form))
        return _render_form(form, errors, general, None, 422)
    if "preview" in request.form:
        preview, problems = _preview(loaded)
        if problems:
            _merge(errors, general, problems)
            return _render_form(form, errors, general, None, 422)
        return _render_form(form, {}, [], preview, 200)
    try:
        row = services().consents.record(current_identity(), loaded)
    except Invalid as exc:
        _merge(errors, general, exc.errors)
        return _render_form(
            form, errors, general or ([] if errors else [problem_text(exc.code)]), None, 422
        )
    return redirect(url_for("web.consent", consent_id=row.id), code=303)


def _render_actions(
    row: Any, form: ReasonForm, errors: dict[str, list[str]], status: int
) -> tuple[str, int]:
    names = services().registry.names([*row.sources, *row.recipients], select_locale())
    page = render_template(
        "web/consent_actions.html",
        consent=row,
        status=to_record(row).status_at(utcnow()),
        sources=[names.get(o, o) for o in row.sources],
        recipients=[names.get(o, o) for o in row.recipients],
        form=form,
        errors=errors,
        may_report=policy.permits(current_identity(), "client.access_report"),
        client=services().clients.shown(current_identity(), row.client_id),
    )
    return page, status


@blp.get("/consents/<string:consent_id>/actions")
@page("consent.withdraw")
def consent_actions(consent_id: str) -> Any:
    """Withdraw the consent on the client's request, or print the client's receipt."""
    row = services().consents.read(current_identity(), consent_id)
    return _render_actions(row, ReasonForm(), {}, 200)


@blp.post("/consents/<string:consent_id>/withdraw")
@page("consent.withdraw")
def consent_withdraw(consent_id: str) -> Any:
    """``active → withdrawn`` at once, with the client's reason."""
    form = ReasonForm()
    if form.validate_on_submit():
        services().consents.withdraw(current_identity(), consent_id, form.reason.data)
        flash(gettext("The consent was withdrawn. It no longer allows sharing."))
        return redirect(url_for("web.consent_actions", consent_id=consent_id), code=303)
    if "csrf_token" in form.errors:
        return render_template("web/error.html", status=400, error=None), 400
    # Shown again with the reason's problem; the same visibility rule as the action itself.
    row = services().consents.visible(current_identity(), consent_id, "consent.withdraw")
    message = (
        gettext("The reason must be 3–1000 characters long.")
        if (form.reason.data or "").strip()
        else gettext("Give the reason the client gave for withdrawing.")
    )
    return _render_actions(row, form, {"reason": [message]}, 422)


@blp.get("/consents/<string:consent_id>/receipt")
@page("consent.receipt")
def consent_receipt(consent_id: str) -> Response:
    """The client's printable receipt, in the consent's language."""
    row, document, _signed, orgs = services().consents.receipt(
        current_identity(), consent_id, runtime().config["ISSUER"]
    )
    person = services().clients.for_printout(row.client_id)
    html = render_template("receipt.html", **page_context(row, document, orgs, person))
    return Response(html, mimetype="text/html")
