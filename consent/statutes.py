"""The statute table: disclosures that the law allows without the client's consent.

A rule names one recipient kind, one purpose and one data category. Only that exact
triple is opened; a disclosure ban does not block it, so the table is kept narrow and
its citations must be reviewed by legal counsel (see ``review`` in ``statutes.json``).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from consent.model import LANGUAGES
from consent.vocabulary import CATEGORIES, ORGANIZATION_KINDS, PURPOSES

__all__ = ["StatuteRule", "StatuteTable", "default_statutes"]

_RULE_FIELDS = ("recipient_kind", "purpose", "category", "statute", "description")
_VOCABULARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "recipient_kind": ("organization kind", ORGANIZATION_KINDS),
    "purpose": ("purpose", PURPOSES),
    "category": ("category", CATEGORIES),
}


@dataclass(frozen=True)
class StatuteRule:
    """The law lets a ``recipient_kind`` receive ``category`` for ``purpose`` without consent."""

    recipient_kind: str
    purpose: str
    category: str
    statute: str
    # fi, sv, en: one plain sentence each. Left out of the hash so that rules stay hashable.
    description: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class StatuteTable:
    """The configured statutory bases, looked up by (recipient kind, purpose, category)."""

    rules: tuple[StatuteRule, ...]
    _index: Mapping[tuple[str, str, str], StatuteRule] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        index = {(rule.recipient_kind, rule.purpose, rule.category): rule for rule in self.rules}
        # Built once per table; the table is immutable, so the index cannot go stale.
        object.__setattr__(self, "_index", index)

    def find(self, recipient_kind: str, purpose: str, category: str) -> StatuteRule | None:
        """The rule for exactly this triple, or None."""
        return self._index.get((recipient_kind, purpose, category))

    @classmethod
    def from_data(cls, data: Any) -> StatuteTable:
        """Validate parsed JSON; a ValueError names the entry and field at fault."""
        if not isinstance(data, Mapping):
            raise ValueError("statute table must be an object with a 'rules' list")
        unknown = sorted(set(data) - {"review", "rules"})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field")
        if "review" in data and not isinstance(data["review"], str):
            raise ValueError("review: must be a string")
        entries = data.get("rules")
        if not isinstance(entries, list):
            raise ValueError("rules: must be a list")

        rules: list[StatuteRule] = []
        seen: dict[tuple[str, str, str], int] = {}
        for position, entry in enumerate(entries):
            rule = _parse_rule(entry, f"rules[{position}]")
            key = (rule.recipient_kind, rule.purpose, rule.category)
            if key in seen:
                raise ValueError(
                    f"rules[{position}]: duplicate of rules[{seen[key]}] "
                    f"({rule.recipient_kind}, {rule.purpose}, {rule.category})"
                )
            seen[key] = position
            rules.append(rule)
        return cls(rules=tuple(rules))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StatuteTable:
        """Read and validate a statute table file (UTF-8 JSON, duplicate keys rejected)."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_data(_parse_json(handle.read()))


@functools.lru_cache(maxsize=1)
def default_statutes() -> StatuteTable:
    """The table shipped with the package (``consent/statutes.json``)."""
    text = resources.files("consent").joinpath("statutes.json").read_text(encoding="utf-8")
    return StatuteTable.from_data(_parse_json(text))


def _parse_rule(entry: Any, path: str) -> StatuteRule:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{path}: must be an object")
    unknown = sorted(set(entry) - set(_RULE_FIELDS))
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown field")
    for name in _RULE_FIELDS:
        if name not in entry:
            raise ValueError(f"{path}.{name}: missing")

    for name, (noun, allowed) in _VOCABULARIES.items():
        value = entry[name]
        if value not in allowed:
            raise ValueError(f"{path}.{name}: unknown {noun} {value!r}")

    statute = entry["statute"]
    if not isinstance(statute, str) or not statute.strip():
        raise ValueError(f"{path}.statute: must be a non-empty string")

    description = entry["description"]
    if not isinstance(description, Mapping):
        raise ValueError(f"{path}.description: must be an object with keys {', '.join(LANGUAGES)}")
    extra = sorted(set(description) - set(LANGUAGES))
    if extra:
        raise ValueError(f"{path}.description.{extra[0]}: unknown language")
    for language in LANGUAGES:
        sentence = description.get(language)
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"{path}.description.{language}: must be a non-empty string")

    return StatuteRule(
        recipient_kind=entry["recipient_kind"],
        purpose=entry["purpose"],
        category=entry["category"],
        statute=statute,
        description={language: description[language] for language in LANGUAGES},
    )


def _parse_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_reject_duplicate_keys)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in statute table")
        result[key] = value
    return result
