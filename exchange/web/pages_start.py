"""The lists behind the start page's counts (registered on exchange.web.blp).

Each list is one call to ``Worklists`` with the signed-in person as the principal, the same
call the start page counts; the policy decides, per list, whose work it is. The pages only
say what the columns mean and where each line leads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import render_template, url_for
from flask_babel import lazy_gettext

from exchange.acting import current_identity
from exchange.policy import Identity
from exchange.services import services
from exchange.web import blp, signed_in
from exchange.web.auth import page
from exchange.worklists import Item, Listing, Worklists


@dataclass(frozen=True)
class Worklist:
    """One list: its action, its title, what its dates and detail mean, where a line leads."""

    name: str
    action: str
    title: object  # a lazy string, translated when shown
    when: object
    detail: object
    also: object | None = None
    link: Callable[[Item], str | None] = lambda item: None
    # Whether the list names its clients (a read of each client's record). An auditor's list
    # does not: the auditor's roles read the log, not clients' records, so it shows the
    # client's pseudonymous id as the audit log does.
    names_clients: bool = True
    # The vocabulary of ``detail`` (``exchange.labels``); "organization" names one, None shows
    # it as it is (a username).
    shows: str | None = None

    def items(self, lists: Worklists, identity: Identity) -> list[Item]:
        found: list[Item] = getattr(lists, self.name)(identity)
        return found


def _consent(item: Item) -> str:
    return url_for("web.consent", consent_id=item.ref)


def _packet(item: Item) -> str:
    return url_for("web.packet", packet_id=item.ref)


def _due(item: Item) -> str | None:
    return _packet(item) if item.kind == "first_contact" else None


def _leads(item: Item) -> str:
    return url_for("web.leads", _anchor=f"assign-{item.ref}")


def _refusals(item: Item) -> str:
    # The audit search filtered to such refusals: the event's full record and its proof.
    return url_for("web.audit", outcome="denied", action=item.detail, actor=item.kind or None)


_ = lazy_gettext
WORKLISTS = {
    found.name: found
    for found in (
        Worklist(
            "approvals",
            "home.approvals",
            _("Consents waiting for approval"),
            _("Recorded"),
            _("Recorded by"),
            _("Valid until"),
            _consent,
        ),
        Worklist(
            "waiting",
            "home.waiting",
            _("Hand-overs to answer"),
            _("Received"),
            _("From"),
            _("Respond by"),
            _packet,
            shows="organization",
        ),
        Worklist(
            "first_contacts",
            "home.first_contacts",
            _("First contacts due"),
            _("First contact due by"),
            _("Worker to meet the client"),
            None,
            _packet,
        ),
        Worklist(
            "periods_ending",
            "home.periods_ending",
            _("Service periods ending without a next step"),
            _("Planned end"),
            _("Service"),
            shows="service",
        ),
        Worklist(
            "unassigned",
            "home.unassigned",
            _("Clients without a worker"),
            _("Without a worker since"),
            _("Former worker"),
            None,
            _leads,
        ),
        Worklist(
            "my_clients",
            "home.my_clients",
            _("My clients"),
            _("Due by"),
            _("What is due"),
            _("My client since"),
            _due,
        ),
        Worklist(
            "due",
            "home.my_clients",
            _("Due for my clients"),
            _("Due by"),
            _("What is due"),
            _("My client since"),
            _due,
        ),
        Worklist(
            "denials",
            "home.denials",
            _("Recent denials"),
            _("Time"),
            _("Action"),
            None,
            _refusals,
            names_clients=False,
            shows="audit_action",
        ),
    )
}


def _show(name: str) -> str:
    listed = WORKLISTS[name]
    identity = current_identity()
    lists = services().worklists
    items = listed.items(lists, identity)
    if listed.names_clients:
        shown = lists.named(identity, items)
    else:
        shown = Listing(items, {item.client_id: item.client_id for item in items if item.client_id})
    return render_template("web/worklist.html", user=signed_in(), listed=listed, shown=shown)


def _register(name: str) -> None:
    listed = WORKLISTS[name]

    def view() -> str:
        return _show(name)

    view.__name__ = f"list_{name}"
    view.__doc__ = f"The start page's list: {name}."
    blp.add_url_rule(f"/lists/{name.replace('_', '-')}", f"list_{name}", page(listed.action)(view))


for _name in WORKLISTS:
    _register(_name)
