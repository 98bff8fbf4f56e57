"""Helpers for tests of the web UI: the CSRF token of a page, signing in."""

from __future__ import annotations

import re
from typing import Any

PASSWORD = "correct horse battery"


def give_passwords(session: Any, rt: Any, usernames: Any) -> None:
    """Give each of ``usernames`` the password ``PASSWORD`` (hashed as the app hashes), and
    commit, so that the web tests can sign them in."""
    from exchange.registry.models import User

    for username in usernames:
        session.get(User, username).password_hash = rt.passwords.hash(PASSWORD)
    session.commit()


def csrf(page: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert found, "the form carries a CSRF token"
    return found.group(1)


def signed_in(app: Any, username: str, language: str | None = None) -> Any:
    """A test client signed in as ``username`` through the form; ``language`` is what its
    browser prefers (``Accept-Language``), none by default."""
    client = app.test_client()
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    assert sign_in(client, username).status_code == 302
    return client


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the form, as a browser would."""
    page = client.get("/ui/login").get_data(as_text=True)
    return client.post(
        "/ui/login", data={"username": username, "password": password, "csrf_token": csrf(page)}
    )
