"""Phone number normalisation and sender classification."""

from __future__ import annotations

import pytest

from modemd.phone import InvalidNumber, is_alphanumeric_or_short, normalize


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33612345678",
        "0033 6 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        " 06 12 34 56 78\n",
        "+33 (0)6 12 34 56 78",
    ],
)
def test_french_forms(raw: str) -> None:
    assert normalize(raw) == "+33612345678"


def test_foreign_numbers() -> None:
    assert normalize("+32 470 12 34 56") == "+32470123456"
    assert normalize("0032 470 12 34 56") == "+32470123456"
    assert normalize("0470 12 34 56", region="BE") == "+32470123456"


def test_landline() -> None:
    assert normalize("01 23 45 67 89") == "+33123456789"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ORANGE",
        "06 12 34 56",
        "06 12 34 56 78 90",
        "+33 1 23",
        "0800 FLOWERS",
        "x" * 100,
    ],
)
def test_invalid(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalize(raw)
    assert repr(raw) in str(info.value)
    assert info.value.raw == raw
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("ORANGE", True),
        ("INFO SMS", True),
        ("SFR", True),
        ("36180", True),
        ("38200", True),
        ("123456", True),
        ("", True),
        ("1234567", False),
        ("0612345678", False),
        ("+33612345678", False),
        ("+331", False),
    ],
)
def test_is_alphanumeric_or_short(sender: str, expected: bool) -> None:
    assert is_alphanumeric_or_short(sender) is expected
