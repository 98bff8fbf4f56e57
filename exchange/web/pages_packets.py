"""Web pages (registered on exchange.web.blp): handover packets and leads on staff change.

Every page goes through the same services as the API (``PacketService``,
``ContinuityService``) with the signed-in person as the principal: the services
decide who may read, accept, decline, withdraw, assign and deactivate, and they
write the audit trail. The pages only collect input and show the results.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from babel import Locale
from flask import flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_wtf import FlaskForm
from jinja2 import Undefined
from wtforms import DateField, HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from adapters.db import utcnow
from consent.model import local_date
from consent.texts import PURPOSE_LABELS
from consent.vocabulary import FIRST_CONTACT_MODES
from exchange import policy
from exchange.acting import current_identity
from exchange.continuity import escort
from exchange.errors import FieldError, Invalid
from exchange.packets import lifecycle
from exchange.packets.presenters import history
from exchange.packets.service import ReadBack
from exchange.services import services
from exchange.unit import current_unit
from exchange.web import DATE_FORMATS, ActionForm, ReasonForm, blp, select_locale, signed_in
from exchange.web.auth import page
from schemas.sections import plan_actions

BOXES = ("inbox", "outbox")
PAGE_SIZE = 50
NOTICE = "notice"
DEACTIVATED = "deactivated"


class AssignForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """Make a worker of the organization the client's lead (the select is in the template)."""

    worker = StringField("worker", validators=[DataRequired(), Length(max=128)])


class FirstContactForm(FlaskForm):  # type: ignore[misc]
    """The receiver met the client (the service checks the date against the transfer)."""

    date = DateField("date", validators=[DataRequired()], format=DATE_FORMATS)
    mode = StringField("mode", validators=[DataRequired(), AnyOf(FIRST_CONTACT_MODES)])


class DeactivateForm(FlaskForm):  # type: ignore[misc]
    """A worker leaves; an empty successor sends their clients to the unassigned queue."""

    worker = StringField("worker", validators=[DataRequired(), Length(max=128)])
    successor = StringField("successor", validators=[Optional(), Length(max=128)])
    # Set only by the confirmation page: without it the form shows what would move.
    confirmed = HiddenField("confirmed", validators=[Optional(), AnyOf(["yes"])])


# --- presentation helpers (formatting only; no rules) ---------------------------------------


def _day(value: Any) -> str:
    """A date (or an ISO date string from a section) in the page's locale; '–' when absent."""
    if value is None or value == "" or isinstance(value, Undefined):
        return "–"
    if isinstance(value, str):
        try:
            return str(format_date(dt.date.fromisoformat(value), "short"))
        except ValueError:
            return value
    return str(format_date(value, "short"))


def _number(value: Any) -> str:
    """A number in the page's locale (6,5 in Finnish); anything else as given, '–' when absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–" if value is None or isinstance(value, Undefined) else str(value)
    return str(format_decimal(value))


def _tel(phone: str) -> str:
    """A ``tel:`` URI (RFC 3966): the digits and a leading '+', without visual separators."""
    return "tel:" + re.sub(r"[^0-9+]", "", phone)


def _purpose(purpose: str) -> str:
    labels = PURPOSE_LABELS.get(select_locale(), PURPOSE_LABELS["en"])
    return labels.get(purpose, purpose)


def _language(code: str) -> str:
    """A language code as its name in the page's language (CLDR); unknown codes as given."""
    name = Locale.parse(select_locale()).languages.get(code)
    return str(name) if name else code


def _helpers() -> dict[str, Any]:
    return {
        "day": _day,
        "number": _number,
        "tel": _tel,
        "purpose_label": _purpose,
        "language_name": _language,
    }


def _notices() -> list[str]:
    return [str(message) for message in get_flashed_messages(category_filter=[NOTICE])]


# --- packets --------------------------------------------------------------------------------


@blp.get("/packets")
@page("packet.list")
def packets() -> str:
    """The organization's inbox or outbox: metadata only, newest first."""
    user = signed_in()
    box = request.args.get("box", "inbox")
    if box not in BOXES:
        raise Invalid(
            "Choose the inbox or the outbox.",
            errors=[FieldError("box", "Use inbox or outbox.")],
        )
    args: dict[str, Any] = {"box": box, "limit": PAGE_SIZE}
    cursor = request.args.get("cursor")
    if cursor:
        args["cursor"] = cursor[:200]
    packet_service = services().packets
    page = packet_service.list_box(current_identity(), args)
    rows = [(row, packet_service.status_of(row)) for row in page.items]
    return render_template(
        "web/packets_list.html",
        user=user,
        box=box,
        rows=rows,
        next_cursor=page.next_cursor,
        **_helpers(),
    )


def _packet_page(
    packet_id: str,
    decline: ReasonForm | None = None,
    accept_error: Invalid | None = None,
    accept_form: dict[str, Any] | None = None,
    first_contact: FirstContactForm | None = None,
) -> str:
    user = signed_in()
    packet_service = services().packets
    identity = current_identity()
    # read() re-checks the legal basis (403 and blocked when gone) and marks the first
    # read by the recipient as delivered; events() is the same status history as the API's.
    opened = packet_service.read(identity, packet_id)
    events = packet_service.events(identity, packet_id)
    row = opened.packet
    status = packet_service.status_of(row)
    read_back = packet_service.read_back(row)
    today = local_date(utcnow())
    escorted = escort.is_open(row)
    return render_template(
        "web/packets_packet.html",
        user=user,
        packet=row,
        client=services().clients.shown(identity, row.client_id),
        sections=opened.sections,
        actions=plan_actions(opened.sections),
        read_back=read_back,
        events=history(events, read_back),
        accept_error=accept_error,
        accept_form=accept_form or {"acknowledged_actions": [], "synthesis": ""},
        status=status,
        is_open=status in lifecycle.OPEN,
        is_recipient=row.recipient_org == user.organization_id,
        is_sender=row.sender_org == user.organization_id,
        decline=decline or ReasonForm(formdata=None),
        escorted=escorted,
        first_contact_late=escorted
        and row.first_contact_by is not None
        and row.first_contact_by < today,
        first_contact=first_contact or FirstContactForm(formdata=None),
        contact_modes=FIRST_CONTACT_MODES,
        today=today,
        notices=_notices(),
        **_helpers(),
    )


@blp.get("/packets/<string:packet_id>")
@page("packet.read")
def packet(packet_id: str) -> str:
    return _packet_page(packet_id)


def _bad_form() -> tuple[str, int]:
    return render_template("web/error.html", status=400, error=None), 400


@blp.post("/packets/<string:packet_id>/accept")
@page("packet.accept")
def packet_accept(packet_id: str) -> Any:
    if not ActionForm().validate_on_submit():
        return _bad_form()
    # A checkbox per plan action (all must be ticked) and the synthesis: the same read-back
    # as the API's, checked by the same service.
    acknowledged = [value[:40] for value in request.form.getlist("acknowledged_actions")[:200]]
    synthesis = request.form.get("synthesis", "").strip() or None
    try:
        services().packets.accept(
            current_identity(), packet_id, ReadBack(tuple(acknowledged), synthesis)
        )
    except Invalid as refused:
        # Nothing moved: the refusal's denial is on the unit of work. The page is shown again
        # with the error; it reads the packet, and that read must stay in the audit log, so
        # the answer is 200 (a 4xx rolls the request back), as for declining.
        current_unit().session.rollback()
        form = {"acknowledged_actions": acknowledged, "synthesis": synthesis or ""}
        return _packet_page(packet_id, accept_error=refused, accept_form=form)
    flash("accepted", NOTICE)
    return redirect(url_for("web.packet", packet_id=packet_id))


@blp.post("/packets/<string:packet_id>/decline")
@page("packet.decline")
def packet_decline(packet_id: str) -> Any:
    form = ReasonForm()
    if not form.validate_on_submit():
        if form.errors.get("csrf_token") or "reason" not in form.errors:
            return _bad_form()
        # The page is shown again with the error at the field. It reads the packet, and that
        # read must stay in the audit log, so the answer is 200 (a 4xx rolls the request
        # back); nothing was declined.
        return _packet_page(packet_id, decline=form)
    services().packets.decline(current_identity(), packet_id, form.reason.data)
    flash("declined", NOTICE)
    return redirect(url_for("web.packet", packet_id=packet_id))


@blp.post("/packets/<string:packet_id>/first-contact")
@page("packet.first_contact")
def packet_first_contact(packet_id: str) -> Any:
    form = FirstContactForm()
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            return _bad_form()
        # As for declining: the page again with the errors at the fields (it reads the packet,
        # and that read stays in the audit log); nothing was recorded.
        return _packet_page(packet_id, first_contact=form)
    services().packets.first_contact(current_identity(), packet_id, form.date.data, form.mode.data)
    flash("first_contact", NOTICE)
    return redirect(url_for("web.packet", packet_id=packet_id))


@blp.post("/packets/<string:packet_id>/withdraw")
@page("packet.withdraw")
def packet_withdraw(packet_id: str) -> Any:
    if not ActionForm().validate_on_submit():
        return _bad_form()
    services().packets.withdraw(current_identity(), packet_id)
    flash("withdrawn", NOTICE)
    return redirect(url_for("web.packet", packet_id=packet_id))


# --- leads on staff change ------------------------------------------------------------------


def _leads_page(
    *,
    failed_client: str | None = None,
    assign: AssignForm | None = None,
    deactivate: DeactivateForm | None = None,
) -> str:
    user = signed_in()
    # The organization's active users for the selects (the service checks the choice).
    workers = services().registry.colleagues(current_identity())
    deactivations = [
        json.loads(str(report)) for report in get_flashed_messages(category_filter=[DEACTIVATED])
    ]
    unassigned = services().continuity.unassigned(current_identity())
    return render_template(
        "web/leads.html",
        user=user,
        unassigned=unassigned,
        clients={
            lead.client_id: services().clients.shown(current_identity(), lead.client_id)
            for lead in unassigned
        },
        workers=workers,
        holders=[worker for worker in workers if policy.may_hold_lead(worker.roles)],
        failed_client=failed_client,
        assign=assign or AssignForm(formdata=None),
        deactivate=deactivate or DeactivateForm(formdata=None),
        deactivations=deactivations,
        notices=_notices(),
        **_helpers(),
    )


@blp.get("/leads")
@page("lead.unassigned")
def leads() -> str:
    """Clients without a worker, and the staff-change form."""
    return _leads_page()


@blp.post("/leads/<string:client_id>/assign")
@page("lead.assign")
def lead_assign(client_id: str) -> Any:
    form = AssignForm()
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            return _bad_form()
        return _leads_page(failed_client=client_id, assign=form), 422
    services().continuity.assign(current_identity(), client_id, form.worker.data)
    flash("assigned", NOTICE)
    return redirect(url_for("web.leads"))


@blp.post("/leads/deactivate")
@page("worker.deactivate")
def worker_deactivate() -> Any:
    form = DeactivateForm()
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            return _bad_form()
        return _leads_page(deactivate=form), 422
    successor = form.successor.data or None
    if form.confirmed.data != "yes":
        # Nothing changes yet: the counts come from the selection the deactivation moves.
        preview = services().continuity.deactivation_preview(
            current_identity(), form.worker.data, successor
        )
        return render_template(
            "web/deactivate_confirm.html",
            user=signed_in(),
            worker=form.worker.data,
            report=preview,
        )
    report = services().continuity.deactivate(current_identity(), form.worker.data, successor)
    counts = {
        "worker": form.worker.data,
        "successor": report.successor,
        "leads_moved": report.leads_moved,
        "packets_moved": report.packets_moved,
        "escorts_moved": report.escorts_moved,
        "first_contacts_moved": report.first_contacts_moved,
    }
    flash(json.dumps(counts), DEACTIVATED)
    return redirect(url_for("web.leads"))
