"""Tests for consent.identifiers.

Project rule: every literal personal identity code in this file uses an individual number
in the temporary range 900-999, so that nothing here can be a real person's code. Codes with
other individual numbers (including the never-issued 000/001) are only built at run time.
"""

import contextlib
import datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from consent.identifiers import (
    HETU_CHECK_CHARS,
    Hetu,
    InvalidIdentifier,
    business_id_check_digit,
    hetu_check_char,
    normalize_hetu,
    parse_hetu,
    validate_business_id,
)

# Copied from the specification rather than imported, so a typo in the module is caught.
SPEC_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
SPEC_BUSINESS_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)
SIGNS_BY_CENTURY = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}

FAST = settings(max_examples=150, deadline=None)


def reference_check_char(digits9: str) -> str:
    return SPEC_CHECK_CHARS[int(digits9) % 31]


def reference_business_remainder(digits7: str) -> int:
    return sum(w * int(d) for w, d in zip(SPEC_BUSINESS_WEIGHTS, digits7, strict=True)) % 11


def ddmmyy(born: datetime.date) -> str:
    return f"{born.day:02d}{born.month:02d}{born.year % 100:02d}"


def build_hetu(date_digits: str, sign: str, individual_number: int) -> str:
    """Build a code with a correct check character, whatever else may be wrong with it."""
    nnn = f"{individual_number:03d}"
    return f"{date_digits}{sign}{nnn}{reference_check_char(date_digits + nnn)}"


# --- personal identity code: known valid examples -------------------------------------

# (code, birth date, individual number); one per century sign, check characters computed
# by hand from the specification.
VALID_HETUS = [
    ("311299+903B", datetime.date(1899, 12, 31), 903),
    ("010100+912V", datetime.date(1800, 1, 1), 912),
    ("010190-900P", datetime.date(1990, 1, 1), 900),
    ("010190Y901R", datetime.date(1990, 1, 1), 901),
    ("150588X935K", datetime.date(1988, 5, 15), 935),
    ("311299W950V", datetime.date(1999, 12, 31), 950),
    ("290296V977L", datetime.date(1996, 2, 29), 977),
    ("010100U999N", datetime.date(1900, 1, 1), 999),
    ("290200A9200", datetime.date(2000, 2, 29), 920),
    ("310105B944J", datetime.date(2005, 1, 31), 944),
    ("121212C966N", datetime.date(2012, 12, 12), 966),
    ("010123D9888", datetime.date(2023, 1, 1), 988),
    ("311299E9905", datetime.date(2099, 12, 31), 990),
    ("280299F999E", datetime.date(2099, 2, 28), 999),
]


def test_examples_cover_every_century_sign() -> None:
    assert {code[6] for code, _, _ in VALID_HETUS} == set("".join(SIGNS_BY_CENTURY.values()))


@pytest.mark.parametrize(("code", "born", "number"), VALID_HETUS)
def test_valid_hetu(code: str, born: datetime.date, number: int) -> None:
    assert parse_hetu(code) == Hetu(
        value=code, birth_date=born, individual_number=number, is_temporary=True
    )
    assert normalize_hetu(code) == code


def test_surrounding_whitespace_is_stripped() -> None:
    assert normalize_hetu(" \t010190-900P\r\n") == "010190-900P"


def test_check_char_alphabet() -> None:
    assert HETU_CHECK_CHARS == SPEC_CHECK_CHARS
    assert len(HETU_CHECK_CHARS) == 31
    assert not set("GIOQZ") & set(HETU_CHECK_CHARS)


def test_check_char_worked_example() -> None:
    # 10190900 = 31 * 328738 + 22, and position 22 of the alphabet is P.
    assert hetu_check_char("010190900") == "P"


@pytest.mark.parametrize(
    "digits", ["", "01019090", "0101909000", "01019090x", "０１０１９０９００"]
)
def test_hetu_check_char_rejects_non_digits(digits: str) -> None:
    with pytest.raises(InvalidIdentifier):
        hetu_check_char(digits)


# --- personal identity code: invalid input --------------------------------------------


@pytest.mark.parametrize("code", ["010190-900A", "010190-900R", "290200A9201", "010190-900G"])
def test_wrong_check_char(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="check character"):
        parse_hetu(code)


@pytest.mark.parametrize(
    ("date_digits", "sign"),
    [
        ("310290", "-"),  # 31 February
        ("300200", "A"),  # 30 February never exists, even in the leap year 2000
        ("290200", "-"),  # 1900 is not a leap year
        ("290200", "+"),  # neither is 1800
        ("290201", "A"),  # nor 2001
        ("310490", "-"),  # 31 April
        ("000190", "-"),  # day 0
        ("010090", "-"),  # month 0
        ("011390", "Y"),  # month 13
    ],
)
def test_invalid_date(date_digits: str, sign: str) -> None:
    with pytest.raises(InvalidIdentifier, match="date"):
        parse_hetu(build_hetu(date_digits, sign, 900))


@pytest.mark.parametrize("number", [0, 1])
def test_never_issued_individual_numbers(number: int) -> None:
    with pytest.raises(InvalidIdentifier, match="individual number"):
        parse_hetu(build_hetu("010190", "-", number))


def test_individual_number_boundaries() -> None:
    assert parse_hetu(build_hetu("010190", "-", 2)).is_temporary is False
    assert parse_hetu(build_hetu("010190", "-", 899)).is_temporary is False
    assert parse_hetu(build_hetu("010190", "-", 900)).is_temporary is True


@pytest.mark.parametrize("code", ["010190G900P", "010190Z900P", "010190T900P", "010190*900P"])
def test_unknown_century_sign(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="century sign"):
        parse_hetu(code)


@pytest.mark.parametrize("code", ["010190a900P", "290200a9200", "280299f999E"])
def test_lowercase_century_sign(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="century sign"):
        parse_hetu(code)


@pytest.mark.parametrize("code", ["010190-900p", "310105B944j", "280299f999e"])
def test_lowercase_check_char(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="format"):
        parse_hetu(code)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "   ",
        "010190-900",  # too short
        "10190-900P",
        "0101900-900P",  # too long
        "010190-900PP",
        "010190-900P.",  # trailing garbage
        "010190-900P x",
        "010190-900P\x00",
        "x010190-900P",  # leading garbage
        "010190 -900P",  # whitespace inside
        "010190--900P",
        "01O190-900P",  # letter O for zero
        "０１０１９０-９００P",  # fullwidth digits
        "010190-900P\n010190-900P",
    ],
)
def test_bad_format(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="format"):
        parse_hetu(code)


def test_error_messages_are_distinct_and_do_not_echo_input() -> None:
    samples = [
        "010190-900",  # format
        "010190G900P",  # century sign
        build_hetu("310290", "-", 900),  # date
        build_hetu("010190", "-", 1),  # individual number
        "010190-900A",  # check character
    ]
    messages = []
    for code in samples:
        with pytest.raises(InvalidIdentifier) as caught:
            parse_hetu(code)
        messages.append(str(caught.value))
        assert code[:6] not in str(caught.value)
    assert len(set(messages)) == len(samples)


# --- personal identity code: properties -----------------------------------------------


@st.composite
def hetu_parts(draw: st.DrawFn) -> tuple[datetime.date, str, int]:
    born = draw(st.dates(datetime.date(1800, 1, 1), datetime.date(2099, 12, 31)))
    sign = draw(st.sampled_from(SIGNS_BY_CENTURY[born.year // 100 * 100]))
    number = draw(st.integers(min_value=2, max_value=999))
    return born, sign, number


@FAST
@given(hetu_parts())
def test_built_code_round_trips(parts: tuple[datetime.date, str, int]) -> None:
    born, sign, number = parts
    code = build_hetu(ddmmyy(born), sign, number)
    parsed = parse_hetu(code)
    assert parsed.value == code
    assert parsed.birth_date == born
    assert parsed.individual_number == number
    assert parsed.is_temporary == (number >= 900)


@FAST
@given(st.from_regex(r"[0-9]{9}", fullmatch=True))
def test_check_char_matches_reference(digits: str) -> None:
    assert hetu_check_char(digits) == reference_check_char(digits)


@FAST
@given(
    hetu_parts(),
    st.one_of(
        st.sampled_from(SPEC_CHECK_CHARS + "GIOQZ" + SPEC_CHECK_CHARS.lower()), st.characters()
    ),
)
def test_any_other_check_char_fails(parts: tuple[datetime.date, str, int], other: str) -> None:
    born, sign, number = parts
    code = build_hetu(ddmmyy(born), sign, number)
    assume(other != code[-1])
    with pytest.raises(InvalidIdentifier):
        parse_hetu(code[:-1] + other)


@FAST
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789+-ABCDEFGHJKLMNPRSTUVWXYZ a\t", min_size=9, max_size=13),
        st.from_regex(r"\s*[0-9]{6}[-+A-Z][0-9]{3}[0-9A-Z]\s*", fullmatch=True),
    )
)
def test_arbitrary_text_only_raises_invalid_identifier(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        parse_hetu(text)


# --- business ID (Y-tunnus) -----------------------------------------------------------

# Hand check for 0737546: 0*7 + 7*9 + 3*10 + 7*5 + 5*8 + 4*4 + 6*2 = 196, 196 % 11 = 9,
# 11 - 9 = 2.
VALID_BUSINESS_IDS = ["0737546-2", "0112038-9", "1572860-0", "0000000-0", "1234567-1", "0000001-9"]


@pytest.mark.parametrize("business_id", VALID_BUSINESS_IDS)
def test_valid_business_id(business_id: str) -> None:
    assert validate_business_id(business_id) == business_id


def test_business_id_whitespace_is_stripped() -> None:
    assert validate_business_id("  0737546-2\n") == "0737546-2"


@pytest.mark.parametrize("business_id", ["0737546-3", "0112038-8", "1572860-1"])
def test_business_id_wrong_check_digit(business_id: str) -> None:
    with pytest.raises(InvalidIdentifier, match="wrong check digit"):
        validate_business_id(business_id)


@pytest.mark.parametrize("check", range(10))
def test_business_id_remainder_one_is_never_valid(check: int) -> None:
    # 0000006: 6 * 2 = 12, 12 % 11 = 1.
    assert business_id_check_digit("0000006") is None
    with pytest.raises(InvalidIdentifier, match="cannot have a valid check digit"):
        validate_business_id(f"0000006-{check}")


@pytest.mark.parametrize(
    "business_id",
    [
        "",
        "737546-2",  # old six-digit form
        "07375462",
        "0737546 2",
        "0737546--2",
        "0737546-2x",
        "0737546-22",
        "FI07375462",  # VAT number, not a business ID
        "O737546-2",
        "０７３７５４６-２",
    ],
)
def test_business_id_bad_format(business_id: str) -> None:
    with pytest.raises(InvalidIdentifier, match="format"):
        validate_business_id(business_id)


@pytest.mark.parametrize("digits", ["", "123456", "12345678", "123456x", "١٢٣٤٥٦٧"])
def test_business_id_check_digit_rejects_non_digits(digits: str) -> None:
    with pytest.raises(InvalidIdentifier):
        business_id_check_digit(digits)


digits7 = st.from_regex(r"[0-9]{7}", fullmatch=True)


@FAST
@given(digits7)
def test_business_id_check_digit_matches_reference(digits: str) -> None:
    remainder = reference_business_remainder(digits)
    expected = {0: 0, 1: None}.get(remainder, 11 - remainder)
    assert business_id_check_digit(digits) == expected


@FAST
@given(digits7)
def test_computed_business_id_validates_and_others_fail(digits: str) -> None:
    assume(reference_business_remainder(digits) != 1)
    check = business_id_check_digit(digits)
    assert check is not None
    assert validate_business_id(f"{digits}-{check}") == f"{digits}-{check}"
    for other in range(10):
        if other != check:
            with pytest.raises(InvalidIdentifier, match="wrong check digit"):
                validate_business_id(f"{digits}-{other}")


@FAST
@given(st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_remainder_one_business_ids_always_invalid(prefix: str) -> None:
    # Choose the last digit so the weighted sum leaves remainder 1, when such a digit exists.
    last = [d for d in "0123456789" if reference_business_remainder(prefix + d) == 1]
    assume(last)
    digits = prefix + last[0]
    assert business_id_check_digit(digits) is None
    for check in range(10):
        with pytest.raises(InvalidIdentifier, match="cannot have a valid check digit"):
            validate_business_id(f"{digits}-{check}")


@FAST
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\s*[0-9]{6,8}-?[0-9]{0,2}\s*", fullmatch=True),
    )
)
def test_arbitrary_text_only_raises_invalid_identifier_for_business_id(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        validate_business_id(text)
