"""The statute table: the packaged file loads, look-ups are exact, bad data is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from consent.statutes import StatuteRule, StatuteTable, default_statutes
from consent.vocabulary import CATEGORIES, ORGANIZATION_KINDS, PURPOSES

RULE: dict[str, Any] = {
    "recipient_kind": "kela",
    "purpose": "benefit_processing",
    "category": "benefits",
    "statute": "Testilaki (1/2000) 1 §",
    "description": {"fi": "Lause.", "sv": "Mening.", "en": "Sentence."},
}


def table_with(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"review": "test", "rules": [copy.deepcopy(rule) for rule in rules]}


def test_packaged_table_loads_with_a_review_note_and_no_sensitive_categories() -> None:
    table = default_statutes()
    assert table.rules
    raw = json.loads(
        (Path(__file__).parents[1] / "consent" / "statutes.json").read_text(encoding="utf-8")
    )
    assert "legal counsel" in raw["review"]
    assert {rule.category for rule in table.rules}.isdisjoint({"health", "assessment"})
    for rule in table.rules:
        assert rule.recipient_kind in ORGANIZATION_KINDS
        assert rule.purpose in PURPOSES
        assert rule.category in CATEGORIES
        assert set(rule.description) == {"fi", "sv", "en"}


def test_default_statutes_is_cached() -> None:
    assert default_statutes() is default_statutes()


def test_find_matches_only_the_exact_triple() -> None:
    table = default_statutes()
    rule = table.find("kela", "benefit_processing", "benefits")
    assert rule is not None
    assert "568/2007" in rule.statute
    assert table.find("kela", "benefit_processing", "health") is None
    assert table.find("kela", "service_planning", "benefits") is None
    assert table.find("provider", "benefit_processing", "benefits") is None
    employment = table.find("employment_services", "employment_services", "service_period")
    assert employment is not None
    assert "380/2023" in employment.statute


def test_from_data_builds_rules() -> None:
    table = StatuteTable.from_data(table_with(RULE))
    assert table.rules == (
        StatuteRule(
            recipient_kind="kela",
            purpose="benefit_processing",
            category="benefits",
            statute="Testilaki (1/2000) 1 §",
            description={"fi": "Lause.", "sv": "Mening.", "en": "Sentence."},
        ),
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("recipient_kind", "bank", "rules[1].recipient_kind: unknown organization kind 'bank'"),
        ("purpose", "x", "rules[1].purpose: unknown purpose 'x'"),
        ("category", "finances", "rules[1].category: unknown category 'finances'"),
        ("statute", "  ", "rules[1].statute: must be a non-empty string"),
        ("description", {"fi": "a", "sv": "b"}, "rules[1].description.en: must be a non-empty"),
    ],
)
def test_from_data_names_entry_and_field(field: str, value: Any, message: str) -> None:
    other = dict(RULE, category="service_period")
    bad = dict(RULE, **{field: value})
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        StatuteTable.from_data(table_with(other, bad))


def test_from_data_rejects_missing_and_unknown_fields() -> None:
    missing = {key: value for key, value in RULE.items() if key != "statute"}
    with pytest.raises(ValueError, match=r"rules\[0\]\.statute: missing"):
        StatuteTable.from_data(table_with(missing))
    with pytest.raises(ValueError, match=r"rules\[0\]\.note: unknown field"):
        StatuteTable.from_data(table_with(dict(RULE, note="x")))


def test_from_data_rejects_duplicate_triples() -> None:
    twin = dict(RULE, statute="Toinen laki (2/2000)")
    with pytest.raises(ValueError, match=r"rules\[1\]: duplicate of rules\[0\]"):
        StatuteTable.from_data(table_with(RULE, twin))


@pytest.mark.parametrize("data", [[], {"rules": {}}, {"rules": [], "extra": 1}, {"rules": [1]}])
def test_from_data_rejects_malformed_tables(data: Any) -> None:
    with pytest.raises(ValueError, match=r"rules|extra"):
        StatuteTable.from_data(data)


def test_load_reads_a_file_and_rejects_duplicate_keys(tmp_path: Path) -> None:
    good = tmp_path / "statutes.json"
    good.write_text(json.dumps(table_with(RULE)), encoding="utf-8")
    assert StatuteTable.load(good).find("kela", "benefit_processing", "benefits") is not None

    duplicated = tmp_path / "duplicated.json"
    duplicated.write_text('{"rules": [], "rules": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate key 'rules'"):
        StatuteTable.load(duplicated)
