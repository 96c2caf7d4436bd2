"""Phone number normalisation (E.164) and sender classification.

Subscribers type numbers the French way ("06 12 34 56 78", "06.12.34.56.78",
"0033 6 ..."); the modem and the store want one canonical form, E.164
("+33612345678"), so that the same person is always the same key.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

# Short codes (French "numéros courts" such as 36180, 38200) have at most
# 6 digits; a subscriber number, even national, never has so few.
SHORT_CODE_MAX_DIGITS: Final = 6

_MAX_INPUT: Final = 64  # longer strings are not phone numbers; spare the parser
_SEPARATORS: Final = re.compile(r"[\s.\-()/]")


class InvalidNumber(ValueError):
    """A string that is not a valid phone number."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


def normalize(raw: str, region: str = "FR") -> str:
    """E.164 form of ``raw``; national numbers are read in ``region``.

    >>> normalize("06 12 34 56 78")
    '+33612345678'

    Raises :class:`InvalidNumber` for anything that is not a valid number
    (checked against the numbering plan, not just the digit count).
    """
    text = raw.strip()
    if not text:
        raise InvalidNumber(raw, "empty")
    if len(text) > _MAX_INPUT:
        raise InvalidNumber(raw, "too long")
    if any(ch.isalpha() for ch in text):
        # phonenumbers would read letters as a keypad vanity number
        # ("0800 FLOWERS"); for an alert recipient that is always a typo.
        raise InvalidNumber(raw, "contains letters")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(raw, str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(raw, f"not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Numbers an SMS reaches: where the numbering plan cannot tell (FIXED_LINE_OR_MOBILE, as in
# parts of North America), the benefit of the doubt.
_TEXTABLE = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
NOT_MOBILE = "a landline or service number cannot receive an SMS alert; give a mobile"


def normalize_mobile(raw: str, region: str = "FR") -> str:
    """As :func:`normalize`, for a member who is to receive alerts: a landline (01-05, 09 in
    France), a freephone or a premium number is refused (``reason`` is ``NOT_MOBILE``)."""
    number = normalize(raw, region)
    if phonenumbers.number_type(phonenumbers.parse(number)) not in _TEXTABLE:
        raise InvalidNumber(raw, NOT_MOBILE)
    return number


def is_alphanumeric_or_short(sender: str) -> bool:
    """True for senders that cannot receive a reply: names and short codes.

    Operators and services send from alphanumeric names ("ORANGE",
    "INFO SMS") and short codes ("36180"); replying to them is at best
    wasted, at worst billed. An empty sender is treated the same way.
    """
    text = _SEPARATORS.sub("", sender)
    if not text:
        return True
    if any(ch.isalpha() for ch in text):
        return True
    return text.isdigit() and len(text) <= SHORT_CODE_MAX_DIGITS
