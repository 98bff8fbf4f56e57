"""WCAG 2.1 AA points of the web UI: focus contrast, target size, current page and language,
focus on the error summary with every error listed, date format hints, scrolling tables."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from consent.model import local_date
from tests.webtools import csrf, give_passwords, signed_in

TEMPLATES = Path(__file__).resolve().parents[1] / "exchange" / "templates" / "web"
HETU = "010190-900P"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("aino.auditoija", ["auditor"])],
    )
    te = make_org("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    give_passwords(session, rt, ("kalle.valmentaja", "aino.auditoija", "tuomas.sw"))
    return {"provider": provider, "te": te}


# --- colours and sizes, computed from the page's own style sheet ---------------------------


def style_rules(page: str) -> list[tuple[list[str], dict[str, str]]]:
    """The rules of the page's <style>: (selectors, declarations), in order."""
    found = re.search(r"<style>(.*?)</style>", page, re.S)
    assert found, "the page carries its style sheet"
    css = re.sub(r"/\*.*?\*/", "", found.group(1), flags=re.S)
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for declaration in body.split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                declarations[name.strip()] = value.strip()
        names = [s.strip() for s in selectors.split(",")]
        rules.append(([re.sub(r"^@media[^{]*", "", s).strip() for s in names], declarations))
    return rules


def declared(rules, selector: str, prop: str) -> str:
    """The last value of ``prop`` in a rule naming exactly ``selector``."""
    values = [d[prop] for names, d in rules if selector in names and prop in d]
    assert values, f"no {prop} for {selector}"
    return values[-1]


def colour(rules, value: str) -> tuple[int, int, int]:
    """A colour value (hex, or var() of a custom property of :root) as RGB."""
    variable = re.fullmatch(r"var\((--[\w-]+)\)", value.strip())
    if variable:
        return colour(rules, declared(rules, ":root", variable.group(1)))
    hexa = re.search(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value)
    assert hexa, f"not a colour this test reads: {value}"
    digits = hexa.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def outline_colour(rules, selector: str) -> tuple[int, int, int]:
    for names, d in reversed(rules):
        if selector in names and "outline-color" in d:
            return colour(rules, d["outline-color"])
        if selector in names and "outline" in d:
            parts = re.findall(r"var\([^)]*\)|#[0-9a-fA-F]+", d["outline"])
            assert parts, d["outline"]
            return colour(rules, parts[-1])
    raise AssertionError(f"no outline for {selector}")


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.1 relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def pixels(value: str) -> float:
    number = re.fullmatch(r"([\d.]+)(px|rem)", value.strip())
    assert number, f"not a length this test reads: {value}"
    return float(number.group(1)) * (16 if number.group(2) == "rem" else 1)


def test_contrast_function_matches_known_ratios():
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21)
    assert contrast((0xFF, 0xBF, 0x47), (255, 255, 255)) == pytest.approx(1.6, abs=0.05)
    assert contrast((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


def test_focus_ring_contrasts_with_what_it_is_drawn_on(app, people):
    rules = style_rules(app.test_client().get("/ui/login").get_data(as_text=True))
    page = colour(rules, declared(rules, "body", "background"))
    ring = outline_colour(rules, ":focus-visible")
    assert contrast(ring, page) >= 3, "the focus ring against the page"
    header = colour(rules, declared(rules, "header", "background"))
    ring_in_header = outline_colour(rules, "header :focus-visible")
    assert contrast(ring_in_header, header) >= 3, "the focus ring against the header"


def test_checkboxes_and_radio_buttons_are_24_pixel_targets(app, people):
    client = signed_in(app, "kalle.valmentaja", "en")
    html = client.get("/ui/consents/new").get_data(as_text=True)
    rules = style_rules(html)
    for kind in ("checkbox", "radio"):
        selector = f'input[type="{kind}"]'
        assert pixels(declared(rules, selector, "width")) >= 24, kind
        assert pixels(declared(rules, selector, "height")) >= 24, kind
    choices = re.findall(r'<input type="(?:checkbox|radio)"[^>]*>', html)
    assert len(choices) > 5
    for control in choices:
        assert "style=" not in control, f"an inline style overrides the target size: {control}"


# --- the current page and language -----------------------------------------------------------


def current_in_nav(html: str) -> list[tuple[str, str]]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav
    return re.findall(r'<a href="([^"]+)"\s*aria-current="(\w+)"', nav.group(1))


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/ui/", "/ui/"), ("/ui/packets", "/ui/packets"), ("/ui/consents/new", "/ui/consents/new")],
)
def test_the_current_page_is_marked_in_the_navigation(app, people, path, expected):
    html = signed_in(app, "tuomas.sw", "en").get(path).get_data(as_text=True)
    assert current_in_nav(html) == [(expected, "page")]


def test_the_audit_pages_mark_the_audit_log(app, people):
    html = signed_in(app, "aino.auditoija", "en").get("/ui/audit").get_data(as_text=True)
    assert current_in_nav(html) == [("/ui/audit", "page")]


def test_the_current_language_is_marked(app, people):
    client = signed_in(app, "tuomas.sw", "en")

    def current(html):
        return re.findall(r'value="(\w\w)" lang="\w\w"\s*aria-current="true"', html)

    assert current(client.get("/ui/").get_data(as_text=True)) == ["en"]
    page = client.get("/ui/").get_data(as_text=True)
    client.post("/ui/language", data={"csrf_token": csrf(page), "lang": "sv", "next": "/ui/"})
    html = client.get("/ui/").get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert current(html) == ["sv"]


# --- a refused form ----------------------------------------------------------------------------


def test_a_refused_form_lists_every_error_at_once_and_takes_the_focus(app, people):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    response = client.post(
        "/ui/consents/new",
        data={
            "csrf_token": csrf(page),
            # the identity code is missing, and two rules are broken at the same time
            "decision": "permit",
            "grantor_type": "guardian",
            "sources": ["kisalli"],
            "recipients": ["te-vs"],
            "categories": ["assessment"],
            "purposes": ["employment_services"],
            "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
            "method": "signed_paper",
            "language": "fi",
            "record": "1",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    summary = re.search(r'<div[^>]*id="error-summary"[^>]*>(.*?)</div>', html, re.S)
    assert summary
    assert 'tabindex="-1"' in summary.group(0)
    for field in ("hetu", "grantor_name", "evidence_reference"):
        assert f'id="{field}-error"' in html, field
        assert f'href="#{field}"' in summary.group(1), field
    assert re.search(r'<script>[^<]*getElementById\("error-summary"\)[^<]*\.focus\(\)', html)


def test_every_error_summary_can_take_the_focus():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for box in re.findall(r'<div class="notice error" role="alert"[^>]*>', text):
            assert 'id="error-summary"' in box, template.name
            assert 'tabindex="-1"' in box, template.name


# --- date fields -------------------------------------------------------------------------------


DATE_FIELDS = ("valid_from", "valid_until", "from", "to")


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}
        self.dates: list[dict[str, str | None]] = []
        self.tables: list[dict[str, str | None] | None] = []
        self._open: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("id") in DATE_FIELDS:
            self.dates.append(attributes)
        if tag == "table":
            parent = self._open[-1] if self._open else None
            self.tables.append(parent[1] if parent and parent[0] == "div" else None)
        if tag not in ("input", "br", "meta", "link"):
            self._open.append((tag, attributes))
            if attributes.get("id"):
                self.texts[attributes["id"]] = ""

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _tag, attributes in self._open:
            if attributes.get("id"):
                self.texts[attributes["id"]] += data


@pytest.mark.parametrize(
    ("language", "format_hint"), [("fi", "pp.kk.vvvv"), ("sv", "dd.mm.åååå"), ("en", "dd.mm.yyyy")]
)
def test_date_fields_say_their_format(app, people, language, format_hint):
    pages = {
        "kalle.valmentaja": "/ui/consents/new",
        "aino.auditoija": "/ui/audit",
    }
    for username, path in pages.items():
        found = _Fields()
        found.feed(signed_in(app, username, language).get(path).get_data(as_text=True))
        assert len(found.dates) == 2, path
        for field in found.dates:
            described = (field.get("aria-describedby") or "").split()
            hints = " ".join(found.texts.get(ref, "") for ref in described)
            assert format_hint in hints, (path, field.get("id"))
            assert "31.12.2026" in hints, (path, field.get("id"))
            # A date picker would show the browser's own format, whatever the hint says.
            assert field.get("type") == "text", (path, field.get("id"))


def test_the_first_contact_date_has_its_hint():
    text = (TEMPLATES / "packets_packet.html").read_text()
    field = re.search(r'<input id="first-contact-date".*?>', text, re.S)
    assert field
    assert "type=" not in field.group(0), "a text box, as the hint describes"
    assert text.count('aria-describedby="first-contact-date-hint') == 2
    assert 'id="first-contact-date-hint"' in text


def test_a_date_typed_as_the_hint_says_is_read(app, people):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    until = today() + dt.timedelta(days=60)
    response = client.post(
        "/ui/consents/new",
        data={
            "csrf_token": csrf(page),
            "hetu": HETU,
            "decision": "permit",
            "grantor_type": "self",
            "sources": ["kisalli"],
            "recipients": ["te-vs"],
            "categories": ["assessment"],
            "purposes": ["employment_services"],
            "valid_until": f"{until.day}.{until.month}.{until.year}",
            "method": "electronic_strong_auth",
            "language": "fi",
            "preview": "1",
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "valid_until-error" not in html
    assert f'value="{until:%d.%m.%Y}"' in html  # shown back as the hint says


# --- tables ------------------------------------------------------------------------------------


def test_every_table_scrolls_in_a_named_region():
    """Each table of a page is in the one region that scrolls (``tables.scrolling``), given
    the heading that names it; the region's markup is checked once, in its macro."""
    for template in TEMPLATES.glob("*.html"):
        lines = template.read_text().splitlines()
        for number, line in enumerate(lines):
            if re.match(r"\s*<table\b", line):
                wrapper = lines[number - 1]
                assert re.match(r"\s*\{% call tables\.scrolling\(.+\) %\}$", wrapper), (
                    template.name,
                    number + 1,
                )
    region = (TEMPLATES / "tables.html").read_text()
    assert 'class="table-wrap"' in region
    assert 'role="region"' in region
    assert 'tabindex="0"' in region
    assert 'aria-labelledby="{{ labelled_by }}"' in region


def test_a_rendered_table_is_in_its_region(app, people):
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    response = client.post(
        "/ui/consents/new",
        data={
            "csrf_token": csrf(page),
            "hetu": HETU,
            "decision": "permit",
            "grantor_type": "self",
            "sources": ["kisalli"],
            "recipients": ["te-vs"],
            "categories": ["assessment"],
            "purposes": ["employment_services"],
            "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
            "method": "electronic_strong_auth",
            "language": "fi",
            "preview": "1",
        },
    )
    html = response.get_data(as_text=True)
    found = _Fields()
    found.feed(html)
    assert found.tables, "the preview shows its table"
    for wrapper in found.tables:
        assert wrapper is not None
        assert wrapper.get("class") == "table-wrap"
        assert wrapper.get("tabindex") == "0"
        assert found.texts.get(wrapper.get("aria-labelledby") or "", "").strip()
    rules = style_rules(html)
    assert declared(rules, ".table-wrap", "overflow-x") == "auto"
