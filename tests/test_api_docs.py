"""`/docs` works offline: the page loads Swagger UI from the service itself, nothing off-host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from exchange.apidocs import ASSETS_URL

# What each kind of reference must come back as.
EXPECTED_TYPES = {"script": "text/javascript", "stylesheet": "text/css"}


class References(HTMLParser):
    """The scripts and stylesheets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.found.append(("script", str(values["src"])))
        elif tag == "link" and "stylesheet" in (values.get("rel") or "").split():
            self.found.append(("stylesheet", str(values["href"])))


def test_docs_loads_its_scripts_and_styles_from_the_service(http):
    page = http.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    parser = References()
    parser.feed(html)
    kinds = sorted(kind for kind, _ in parser.found)
    assert kinds == ["script", "script", "stylesheet"]
    for kind, url in parser.found:
        parts = urlsplit(url)
        assert not parts.scheme, url
        assert not parts.netloc, url
        assert url.startswith(ASSETS_URL), url
        with http.get(url) as asset:
            assert asset.status_code == 200, url
            assert asset.mimetype == EXPECTED_TYPES[kind], url
            assert len(asset.data) > 1000, url  # the real file, not an empty answer
    # Nothing else in the page names another host: no CDN, no validator badge.
    assert re.findall(r"(?:https?:)?//[^\s\"'<>]+", html) == []
    assert '"validatorUrl": null' in html


def test_the_assets_are_swagger_ui_5(http):
    """Swagger UI 4 cannot render an OpenAPI 3.1 document; 5 can."""
    assert http.get("/openapi.json").get_json()["openapi"].startswith("3.1")
    with http.get(ASSETS_URL + "swagger-ui-bundle.js") as asset:
        bundle = asset.get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle
    assert re.search(r'PACKAGE_VERSION:"5\.\d+', bundle)


@pytest.mark.parametrize(
    "name", ["swagger-ui.js.map", "..%2F__init__.py", "index.html", "LICENSE", "nothing.js"]
)
def test_only_the_page_assets_are_served(http, name):
    with http.get(ASSETS_URL + name) as answer:
        assert answer.status_code == 404


def test_an_operator_may_point_docs_at_another_copy(app_config):
    from exchange import create_app

    app = create_app(app_config | {"SWAGGER_UI_URL": "https://assets.example.fi/swagger-ui/"})
    page = app.test_client().get("/docs").get_data(as_text=True)
    assert 'src="https://assets.example.fi/swagger-ui/swagger-ui-bundle.js"' in page
