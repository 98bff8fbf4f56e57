"""The web UI for social workers and auditors: server-rendered, the API's own services.

No rule is implemented twice: every page calls the same services as the HTTP
API (``services()``), with the signed-in person as the principal of the
request's unit of work, so the same checks, the same visibility and the same
audit trail apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel, gettext
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from wtforms import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from exchange import policy
from exchange.acting import current_identity
from exchange.errors import ExchangeError, Unauthenticated
from exchange.labels import describe_detail, label
from exchange.policy import public
from exchange.problem_texts import problem_text
from exchange.problems import status_of
from exchange.registry import cache as registry_cache
from exchange.registry.cache import UserEntry
from exchange.registry.models import Organization
from exchange.runtime import runtime
from exchange.services import services
from exchange.web import sso
from exchange.web.auth import (
    LockedOut,
    current_user,
    page,
    sign_in,
    sign_out,
    start_session,
)

log = logging.getLogger(__name__)
LANGUAGES = ("fi", "sv", "en")
# What a date field accepts: the ISO date a browser's date picker sends, or a date typed the
# Finnish way (31.12.2026, as the fields' hints say) where the browser shows a plain text box.
DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]
blp = Blueprint("web", __name__, url_prefix="/ui")
# One way of writing dates and times on every page, whatever the language: the Finnish
# numeric one (1.12.2026 16.25), which is also how Swedish and English are written in Finland;
# the printouts write theirs the same way (``exchange.printouts``).
FINNISH_FORMATS = {
    **Babel.default_date_formats,
    "date.short": "d.M.yyyy",
    "date.medium": "d.M.yyyy",
    "datetime.short": "d.M.yyyy H.mm",
    "datetime.medium": "d.M.yyyy H.mm.ss",
    "time.short": "H.mm",
    "time.medium": "H.mm.ss",
}
babel = Babel(date_formats=FINNISH_FORMATS)


class LoginForm(FlaskForm):  # type: ignore[misc]  # flask-wtf is untyped
    username = StringField("username", validators=[DataRequired(), Length(max=128)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: carries only the CSRF token."""


class ReasonForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField("reason", validators=[DataRequired(), Length(min=3, max=1000)])


def signed_in() -> UserEntry:
    """The signed-in user of a ``page`` page."""
    user = current_user()
    if user is None:  # page has redirected already; defensive only
        raise Unauthenticated("Sign in first.", code="not_signed_in")
    return user


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES, default="fi") or "fi"


def organization_name(organization_id: str) -> str:
    """For templates: the organization's name in the page's language, from the registry cache
    (no query once cached); an id the registry does not know is shown as it is."""
    found = registry_cache.organization(organization_id)
    return found.display_name(select_locale()) if found is not None else organization_id


def organization_choices(rows: Iterable[Organization]) -> list[tuple[str, str]]:
    """A form's organizations: (id, name in the page's language), by that name."""
    language = select_locale()
    named = [(row.id, row.display_name(language)) for row in rows]
    return sorted(named, key=lambda choice: choice[1].casefold())


def regional_locale() -> str:
    """The Babel locale: the chosen language as written in Finland, so dates and times read
    the Finnish way (8.11.2026 9.05) in Swedish and English too; catalogs by language."""
    return {"fi": "fi_FI", "sv": "sv_FI", "en": "en_FI"}[select_locale()]


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after sign-in would be a phishing aid.
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return url_for("web.start")


@blp.errorhandler(ExchangeError)
def web_error(error: ExchangeError) -> tuple[str, int]:
    """The error page. The refusal's denial is on the request's unit of work already, written
    when the error status rolls it back, exactly as for the API."""
    status = status_of(error)
    return render_template("web/error.html", status=status, error=error), status


@blp.get("/login")
@public
def login() -> str:
    form = LoginForm(next=request.args.get("next", ""))
    return render_template("web/login.html", form=form, message=None)


@blp.post("/login")
@public
def login_post() -> Any:
    form = LoginForm()
    message = None
    if form.validate_on_submit():
        try:
            user = sign_in(form.username.data, form.password.data)
        except LockedOut as locked:
            minutes = max(1, locked.seconds // 60)
            message = gettext(
                "Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes
            )
            return render_template("web/login.html", form=form, message=message), 429
        if user is not None:
            return redirect(_safe_next(form.next.data))
        message = gettext("Wrong username or password.")
    elif form.errors.get("csrf_token"):
        message = gettext("The form had expired. Please try again.")
    return render_template(
        "web/login.html", form=form, message=message
    ), 400 if form.errors else 401


@blp.get("/login/sso")
@public
def sso_begin() -> Any:
    if not sso.enabled():
        return render_template("web/error.html", status=404, error=None), 404
    session["sso_next"] = _safe_next(request.args.get("next"))
    try:
        return sso.begin(runtime().config["ISSUER"] + url_for("web.sso_callback"))
    except sso.SsoFailed as failed:
        log.warning("single sign-on could not start: %s", failed)
        return _sso_refused(503)


@blp.get("/login/sso/callback")
@public
def sso_callback() -> Any:
    if not sso.enabled():
        return render_template("web/error.html", status=404, error=None), 404
    target = _safe_next(session.get("sso_next"))
    try:
        user = sso.finish()
    except sso.SsoFailed as failed:
        log.warning("single sign-on refused: %s", failed)
        return _sso_refused(401)
    start_session(user)
    return redirect(target)


def _sso_refused(status: int) -> tuple[str, int]:
    message = gettext("Single sign-on did not succeed. Ask your administrator for access.")
    if status == 503:
        message = gettext("Single sign-on is not available right now. Please try again later.")
    return render_template("web/login.html", form=LoginForm(), message=message), status


@blp.post("/logout")
@public
def logout() -> Any:
    form = ActionForm()
    if form.validate_on_submit():
        sign_out()
    return redirect(url_for("web.login"))


@blp.post("/language")
@public
def language() -> Any:
    form = ActionForm()
    chosen = request.form.get("lang")
    if form.validate_on_submit() and chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(_safe_next(request.form.get("next")))


@blp.get("/")
@page("home.read")
def start() -> str:
    """What needs the person now: a count per list of their roles' work, each linking to it."""
    from exchange.web.pages_start import WORKLISTS  # it registers on this module's blueprint

    user = signed_in()
    identity = current_identity()
    found = services()
    # Each section only for those whose work the policy says it is: nobody sees another's.
    counts = {
        name: len(listed.items(found.worklists, identity))
        for name, listed in WORKLISTS.items()
        if _can(listed.action)
    }
    casework = _can("escalation.list")
    periods = found.periods
    auditing = _can("audit.verify")
    report = found.audit.verify(identity) if auditing else None
    checkpoints = found.audit.checkpoints(identity) if auditing else []
    escalations = found.continuity.escalations(identity) if casework else {}
    ending = periods.ending_without_next_step(identity) if casework else []
    # The clients of the tables below the counts, named as the lists name them (audited).
    named = [p.client_id for p in escalations.get("first_contact_missing", [])]
    if "periods_ending" not in counts:
        named += [period.client_id for period in ending]
    return render_template(
        "web/start.html",
        user=user,
        counts=counts,
        worklists=WORKLISTS,
        report=report,
        latest=checkpoints[0] if checkpoints else None,
        casework=casework,
        escalations=escalations,
        periods_ending=ending,
        review_needed=periods.review_needed(identity) if casework else [],
        clients=found.worklists.labels(identity, named),
    )


@blp.post("/consents/<string:consent_id>/approve")
@page("consent.approve")
def consent_approve(consent_id: str) -> Any:
    if not ActionForm().validate_on_submit():
        return render_template("web/error.html", status=400, error=None), 400
    services().consents.approve(current_identity(), consent_id)
    flash(gettext("You approved the consent."))
    return redirect(url_for("web.consent", consent_id=consent_id))


@blp.post("/consents/<string:consent_id>/reject")
@page("consent.reject")
def consent_reject(consent_id: str) -> Any:
    form = ReasonForm()
    if not form.validate_on_submit():
        return render_template("web/error.html", status=400, error=None), 400
    services().consents.reject(current_identity(), consent_id, form.reason.data)
    flash(gettext("You rejected the consent."))
    return redirect(url_for("web.consent", consent_id=consent_id))


@public
def root_redirect() -> Response:
    return redirect(url_for("web.start"))  # type: ignore[return-value]


def setup_web(app: Flask) -> None:
    """Bind the UI: sessions, languages, forms; register its pages."""
    config = app.config
    secure = config["COOKIE_SECURE"]
    if secure is None:
        secure = config["MODE"] == "production"
    app.secret_key = runtime_secret(app)
    app.config.update(
        SESSION_COOKIE_NAME="exchange_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=config["WEB_IDLE_MINUTES"] * 60,
        WTF_CSRF_TIME_LIMIT=config["WEB_IDLE_MINUTES"] * 60,
        BABEL_DEFAULT_LOCALE="fi",
        BABEL_DEFAULT_TIMEZONE="Europe/Helsinki",
    )
    sso.setup_sso(app)
    babel.init_app(
        app, locale_selector=regional_locale, timezone_selector=lambda: "Europe/Helsinki"
    )
    app.jinja_env.globals.update(
        csrf_token=generate_csrf,
        label_of=label,
        describe_detail=describe_detail,
        problem_text=problem_text,
        # A global (not a context variable) so that imported macros see it too; also a
        # filter, for lists of ids: ``consent.sources | map("organization_name") | join(", ")``.
        organization_name=organization_name,
    )
    app.jinja_env.filters["organization_name"] = organization_name
    # The page modules add their routes to ``blp`` on import; it must happen before registering.
    from exchange.web import (  # noqa: F401
        pages_audit,
        pages_clients,
        pages_consents,
        pages_packets,
        pages_reports,
        pages_start,
    )

    app.register_blueprint(blp)
    app.add_url_rule("/", "root", root_redirect)

    @app.context_processor
    def _languages() -> dict[str, Any]:
        return {
            "languages": LANGUAGES,
            "current_lang": select_locale() if request else "fi",
            "g": g,
            "sso_enabled": sso.enabled(),
            "can": _can,
        }


def _can(name: str) -> bool:
    """For templates: whether the signed-in person may do action ``name`` (what to offer)."""
    unit = g.get("unit")
    identity = unit.principal if unit is not None else None
    return identity is not None and policy.permits(identity, name)


def runtime_secret(app: Flask) -> bytes:
    from exchange.runtime import EXTENSION

    secret: bytes = app.extensions[EXTENSION].keys.session_secret
    return secret


__all__ = ["runtime", "setup_web"]
