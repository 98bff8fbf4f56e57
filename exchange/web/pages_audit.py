"""Auditor pages (search, export, verification, proofs) and the client's access report.

The same ``AuditQueries`` as ``/v1/audit`` with the signed-in auditor as the
principal: an auditor sees the same events as there (``AuditQueries.scope``: its own
organization's, and those about the packets and consents it is party to; a supervisor's
auditor all of them), and every search,
export, verification and proof is itself audited (``audit.read``). Filters are
checked by the API's own ``AuditQueryArgs``. Times are typed in Finnish time
(Europe/Helsinki) and searched in UTC. Nothing here links to packet content.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, render_template, request, stream_with_context
from flask_babel import gettext
from marshmallow import ValidationError

from exchange.acting import current_identity
from exchange.audit import merkle
from exchange.audit.export import excel_form
from exchange.audit.report import report_page
from exchange.errors import FieldError, Invalid
from exchange.labels import choices
from exchange.services import services
from exchange.streams import guarded
from exchange.web import LANGUAGES, blp, organization_choices, select_locale
from exchange.web.auth import page
from schemas import flatten_errors
from schemas.audit import AuditQueryArgs, ProofArgs

FINLAND = ZoneInfo("Europe/Helsinki")
PAGE_SIZE = 50
FILTERS = ("client_id", "organization", "action", "outcome", "actor", "from", "to")


def _filters() -> dict[str, str]:
    """The search form's values as typed (empty ones left out)."""
    given = {name: request.args.get(name, "").strip() for name in FILTERS}
    return {name: value for name, value in given.items() if value}


# Typed the Finnish way where the browser shows a text box instead of a date and time picker.
TYPED_TIMES = ("%d.%m.%Y %H.%M", "%d.%m.%Y %H:%M", "%d.%m.%Y")


def _moment(value: str) -> dt.datetime:
    """A ``datetime-local`` value, or one typed as the field's hint says (ValueError if not)."""
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        for form in TYPED_TIMES:
            try:
                return dt.datetime.strptime(value, form)  # naive: Finnish time, as below
            except ValueError:
                continue
        raise


def _utc(value: str) -> str:
    """A ``datetime-local`` value in Finnish time as RFC 3339 UTC (ValueError if unreadable)."""
    moment = _moment(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=FINLAND)
    return moment.astimezone(dt.UTC).isoformat()


def _search_args(given: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The API's search arguments for the typed filters, or the problems by field."""
    errors: dict[str, list[str]] = {}
    raw: dict[str, Any] = {}
    for name, value in given.items():
        if name in ("from", "to"):
            try:
                raw[name] = _utc(value)
            except ValueError:
                errors[name] = [gettext("Enter a date and time, for example 31.12.2026 14.30.")]
        else:
            raw[name] = value
    cursor = request.args.get("cursor")
    if cursor:
        raw["cursor"] = cursor
    raw["limit"] = PAGE_SIZE
    try:
        args: dict[str, Any] = AuditQueryArgs().load(raw)
    except ValidationError as exc:
        for error in flatten_errors(exc.messages):
            field = error.field if error.field in FILTERS else "cursor"
            errors.setdefault(field, []).append(error.message)
        args = {}
    return args, errors


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@blp.get("/audit")
@page("audit.search")
def audit() -> Any:
    """Search the organization's events; the log's verification and its latest checkpoint."""
    identity = current_identity()
    given = _filters()
    args, errors = _search_args(given)
    search = services().audit
    page: dict[str, Any] | None = None
    if not errors:
        search.audit_search(identity, args)
    # Verification seals what is pending first, so the results include the newest events.
    report = search.verify(identity)
    checkpoints = search.checkpoints(identity)
    if not errors:
        page = search.page(identity, args)
    summary = [(name, message) for name in (*FILTERS, "cursor") for message in errors.get(name, [])]
    html = render_template(
        "web/audit_search.html",
        everything=search.scope(identity).organization is None,
        given=given,
        errors=errors,
        summary=summary,
        events=[(row, _when(row.occurred_at)) for row in page["items"]] if page else [],
        next_cursor=page["next_cursor"] if page else None,
        paging="cursor" in args,
        report=report,
        latest=checkpoints[0] if checkpoints else None,
        when=_when,
        actions=choices("audit_action"),
        organizations=organization_choices(services().registry.organizations()),
    )
    return html, 422 if errors else 200


@blp.get("/audit/export.csv")
@page("audit.search")
def audit_export() -> Response:
    """Every match as CSV for a spreadsheet, streamed by the same export as
    ``/v1/audit/events?format=csv&dialect=excel``, the headers in the page's language."""
    identity = current_identity()
    args, errors = _search_args(_filters())
    if errors:
        raise Invalid(
            "The search has invalid fields.",
            errors=[FieldError(name, " ".join(messages)) for name, messages in errors.items()],
        )
    args.pop("cursor", None)
    args["format"] = "csv"
    args["dialect"] = "excel"
    found = services()
    found.audit.audit_search(identity, args)
    # The search itself is committed before the export streams, so it is in the log.
    found.uow.commit()
    form = excel_form(select_locale())
    body, mimetype = found.audit.export(identity, args, form)
    return Response(
        stream_with_context(guarded(body, mimetype, form.delimiter)),
        mimetype=mimetype,
        headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
    )


@blp.get("/audit/events/<int:seq>/proof")
@page("audit.proof")
def audit_proof(seq: int) -> str:
    """The inclusion proof of one event against a signed checkpoint, readably."""
    try:
        args: dict[str, Any] = ProofArgs().load(
            {"tree_size": request.args["tree_size"]} if request.args.get("tree_size") else {}
        )
    except ValidationError as exc:
        raise Invalid("Invalid tree size.", errors=flatten_errors(exc.messages)) from exc
    proof = services().audit.inclusion(current_identity(), seq, args.get("tree_size"))
    verified = merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(node) for node in proof["proof"]],
        bytes.fromhex(proof["root_hash"]),
    )
    return render_template("web/audit_proof.html", proof=proof, verified=verified)


@blp.get("/clients/<string:client_id>/access-report", endpoint="access_report")
@page("client.access_report")
def access_report_page(client_id: str) -> Response:
    """The client's printable "who has seen my data" (``?lang=fi|sv|en``, default the UI's)."""
    lang = request.args.get("lang", "")
    if lang not in LANGUAGES:
        lang = select_locale()
    report = services().access_report(current_identity(), client_id, lang)
    person = services().clients.for_printout(client_id)
    html = render_template("access_report.html", **report_page(report, lang, person))
    return Response(html, mimetype="text/html")
