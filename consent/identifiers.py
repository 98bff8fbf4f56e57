"""Validation of Finnish identifiers: the personal identity code (henkilötunnus, HETU)
and the business ID (Y-tunnus).

Error messages deliberately never echo the input: an identity code is personal data and
exception messages tend to end up in logs and API responses.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

__all__ = [
    "Hetu",
    "InvalidIdentifier",
    "business_id_check_digit",
    "hetu_check_char",
    "mask_hetu",
    "normalize_hetu",
    "parse_hetu",
    "validate_business_id",
]

# G, I, O, Q and Z are left out so the check character cannot be confused with a digit.
HETU_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"

# The 2023 reform added Y-U and B-F so that the individual numbers do not run out; the
# extra signs carry no meaning beyond the century.
HETU_CENTURY_SIGNS: dict[str, int] = {
    "+": 1800,
    "-": 1900,
    "Y": 1900,
    "X": 1900,
    "W": 1900,
    "V": 1900,
    "U": 1900,
    "A": 2000,
    "B": 2000,
    "C": 2000,
    "D": 2000,
    "E": 2000,
    "F": 2000,
}

BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)

# Explicit [0-9] rather than \d: \d also matches non-ASCII digits (e.g. fullwidth ones),
# which int() would happily accept.
_HETU_SHAPE = re.compile(r"([0-9]{6})(.)([0-9]{3})([0-9A-Z])")
_BUSINESS_ID_SHAPE = re.compile(r"([0-9]{7})-([0-9])")
_DIGITS9 = re.compile(r"[0-9]{9}")
_DIGITS7 = re.compile(r"[0-9]{7}")

_TEMPORARY_INDIVIDUAL_NUMBERS = range(900, 1000)


class InvalidIdentifier(ValueError):
    """Raised when a Finnish identifier fails validation."""


@dataclass(frozen=True)
class Hetu:
    """A validated Finnish personal identity code."""

    value: str = field(repr=False)  # an identity code must not reach logs through a repr
    birth_date: datetime.date
    individual_number: int
    is_temporary: bool


def hetu_check_char(digits9: str) -> str:
    """Return the HETU check character for the nine digits DDMMYYNNN."""
    if not _DIGITS9.fullmatch(digits9):
        raise InvalidIdentifier("expected exactly nine digits")
    return HETU_CHECK_CHARS[int(digits9) % 31]


def parse_hetu(text: str) -> Hetu:
    """Parse and fully validate a Finnish personal identity code."""
    value = text.strip()
    shape = _HETU_SHAPE.fullmatch(value)
    if shape is None:
        raise InvalidIdentifier(
            "personal identity code must have the format DDMMYYCNNNX (11 characters, uppercase)"
        )
    ddmmyy, sign, individual, check = shape.groups()

    century = HETU_CENTURY_SIGNS.get(sign)
    if century is None:
        raise InvalidIdentifier("personal identity code has an unknown century sign")

    try:
        birth_date = datetime.date(century + int(ddmmyy[4:6]), int(ddmmyy[2:4]), int(ddmmyy[0:2]))
    except ValueError:
        raise InvalidIdentifier("personal identity code contains an invalid date") from None

    individual_number = int(individual)
    # 000 and 001 have never been issued.
    if individual_number < 2:
        raise InvalidIdentifier("personal identity code has an invalid individual number")

    if check != hetu_check_char(ddmmyy + individual):
        raise InvalidIdentifier("personal identity code has a wrong check character")

    return Hetu(
        value=value,
        birth_date=birth_date,
        individual_number=individual_number,
        is_temporary=individual_number in _TEMPORARY_INDIVIDUAL_NUMBERS,
    )


def normalize_hetu(text: str) -> str:
    """Return the canonical form of a valid personal identity code."""
    return parse_hetu(text).value


# What a masked code keeps: the birth date, the century sign and the first digit of the
# individual number (DDMMYYC N); the rest of the individual number and the check character,
# which together with the date single out the person, are hidden.
HETU_MASK_KEEP = 8
HETU_MASK = "***"


def mask_hetu(text: str) -> str:
    """The code with only its date part shown: ``010190-900P`` becomes ``010190-9***``."""
    return parse_hetu(text).value[:HETU_MASK_KEEP] + HETU_MASK


def business_id_check_digit(digits7: str) -> int | None:
    """Return the Y-tunnus check digit for seven digits, or None if none can exist."""
    if not _DIGITS7.fullmatch(digits7):
        raise InvalidIdentifier("expected exactly seven digits")
    remainder = sum(w * int(d) for w, d in zip(BUSINESS_ID_WEIGHTS, digits7, strict=True)) % 11
    if remainder == 0:
        return 0
    # Remainder 1 would need check digit 10; such numbers are never assigned.
    if remainder == 1:
        return None
    return 11 - remainder


def validate_business_id(text: str) -> str:
    """Validate a Finnish business ID (Y-tunnus) and return its canonical form."""
    value = text.strip()
    shape = _BUSINESS_ID_SHAPE.fullmatch(value)
    if shape is None:
        raise InvalidIdentifier(
            "business ID must have the format NNNNNNN-C (7 digits, hyphen, 1 digit)"
        )
    digits, check = shape.groups()
    expected = business_id_check_digit(digits)
    if expected is None:
        raise InvalidIdentifier("business ID number cannot have a valid check digit")
    if int(check) != expected:
        raise InvalidIdentifier("business ID has a wrong check digit")
    return value
