"""Web pages (registered on exchange.web.blp): the client's page and the client search.

The client's page asks the same actions as the API (``client.read``, ``client.reveal``) and
goes through the same services, so an organization that is not involved with the client gets
the same audited 404. An identity code typed into the search is only ever POSTed: it never
appears in a URL, a query string or the log; the answer is a redirect to the client's page by
its opaque id.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, url_for
from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from consent.identifiers import InvalidIdentifier, normalize_hetu
from exchange.acting import current_identity
from exchange.services import services
from exchange.web import ActionForm, blp, signed_in
from exchange.web.auth import page


class ClientSearchForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    """Find a client by identity code or by name (one of them)."""

    hetu = StringField("hetu", validators=[Optional(), Length(max=11)])
    name = StringField("name", validators=[Optional(), Length(max=200)])


def _client_page(client_id: str, revealed: str | None = None) -> str:
    found = services().client_overview.overview(current_identity(), client_id)
    return render_template(
        "web/client.html",
        user=signed_in(),
        overview=found,
        client=found.client,
        revealed=revealed,
        action=ActionForm(),
    )


@blp.get("/clients/<string:client_id>")
@page("client.read")
def client(client_id: str) -> str:
    """The client: name, masked identity code, lead, consents, packets, periods, timeline."""
    return _client_page(client_id)


@blp.post("/clients/<string:client_id>/reveal")
@page("client.reveal")
def client_reveal(client_id: str) -> Any:
    """The client's page with the full identity code, once: audited, never cached."""
    if not ActionForm().validate_on_submit():
        return render_template("web/error.html", status=400, error=None), 400
    hetu = services().clients.reveal(current_identity(), client_id)
    response = Response(_client_page(client_id, revealed=hetu))
    response.headers["Cache-Control"] = "no-store"
    return response


def _search_page(
    form: ClientSearchForm,
    *,
    results: list[Any] | None = None,
    error: str | None = None,
    not_found: bool = False,
    status: int = 200,
) -> tuple[str, int]:
    page_html = render_template(
        "web/client_search.html",
        user=signed_in(),
        form=form,
        results=results,
        error=error,
        not_found=not_found,
    )
    return page_html, status


@blp.get("/clients")
@page("client.search")
def clients() -> Any:
    """The client search form."""
    return _search_page(ClientSearchForm(formdata=None))


@blp.post("/clients")
@page("client.search")
def clients_search() -> Any:
    """By identity code: straight to the client's page; by name: the involved clients whose
    name matches. Unknown and not involved give the same answer."""
    form = ClientSearchForm()
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            return render_template("web/error.html", status=400, error=None), 400
        return _search_page(form, error=gettext("Check the search."), status=422)
    typed = (form.hetu.data or "").strip()
    name = (form.name.data or "").strip()
    # The code is never echoed back into the form, whatever the answer.
    form.hetu.data = ""
    if typed:
        try:
            hetu = normalize_hetu(typed.upper())
        except InvalidIdentifier:
            return _search_page(
                form, error=gettext("That is not a valid personal identity code."), status=422
            )
        client_id = services().clients.find_involved(current_identity(), hetu)
        if client_id is None:
            return _search_page(form, not_found=True)
        return redirect(url_for("web.client", client_id=client_id), code=303)
    if name:
        results = services().clients.search_names(current_identity(), name)
        return _search_page(form, results=results, not_found=not results)
    return _search_page(form, error=gettext("Give an identity code or a name."), status=422)
