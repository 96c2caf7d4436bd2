"""The commands a registered sender texts, read the way keywords are (case and accents
folded, the punctuation around the word ignored):

- ``ALERTE <PIN> [@communes #trades !category] <message>``: the target, if any, on the first
  line or as the first words (``@Aurillac,Arpajon-sur-Cère #tabac,bijouterie``);
- ``OUI <code>`` sends (or cancels) what was previewed; ``NON`` abandons it;
- ``ANNULER <alert id>`` asks to cancel an alert; ``ETAT [<alert id>]`` asks where it stands.

Every command is kept with its secret masked (``masked``): the PIN and codes appear nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modemd.members.registry import fold

ALERT, CONFIRM, ABANDON, CANCEL, STATE = "alert", "confirm", "abandon", "cancel", "state"
WORDS = {
    "alerte": ALERT,
    "alert": ALERT,
    "oui": CONFIRM,
    "non": ABANDON,
    "annuler": CANCEL,
    "annule": CANCEL,
    "annulation": CANCEL,
    "etat": STATE,
    "statut": STATE,
}
MASK = "****"
_TARGET_MARK = re.compile(r"([@#!])([^@#!]*)")


@dataclass(frozen=True)
class Command:
    kind: str
    masked: str  # the SMS as it may be kept and shown: its PIN or code replaced by ****
    secret: str = ""  # the PIN (alert) or the code (confirm)
    argument: str = ""  # the alert id (cancel, state)
    communes: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    category: str | None = None
    message: str = ""


def read_command(text: str) -> Command | None:
    """The command this SMS gives, or None when it is not one (then it is ordinary inbound)."""
    stripped = text.strip()
    first, rest = _split_word(stripped)
    kind = WORDS.get(fold(first))
    if kind is None:
        return None
    if kind == ALERT:
        pin, body = _split_word(rest)
        masked = f"{first} {MASK} {body}".strip() if pin else first
        communes, sectors, category, message = _target(body)
        return Command(ALERT, masked, pin, "", communes, sectors, category, message)
    if kind == CONFIRM:
        code, _ = _split_word(rest)
        return Command(CONFIRM, f"{first} {MASK}" if code else first, secret=code)
    argument, _ = _split_word(rest)
    return Command(kind, stripped, argument=argument)


def _split_word(text: str) -> tuple[str, str]:
    """The first word (its surrounding punctuation dropped) and the rest, either side of the
    first space or line break."""
    parts = re.split(r"\s+", text.strip(), maxsplit=1)
    word = parts[0].strip(".,;:!?\"'’«»()") if parts else ""
    return word, parts[1] if len(parts) > 1 else ""


def _target(body: str) -> tuple[tuple[str, ...], tuple[str, ...], str | None, str]:
    """``@Aurillac,Arpajon #tabac !vol_etalage\\nmessage`` -> its parts. The target is the
    first line when it starts with a mark, else the leading words that do."""
    if body[:1] not in ("@", "#", "!"):
        return (), (), None, body.strip()
    if "\n" in body:
        spec, message = body.split("\n", 1)
    else:
        words = body.split(" ")
        n = 0
        while n < len(words) and words[n][:1] in ("@", "#", "!"):
            n += 1
        spec, message = " ".join(words[:n]), " ".join(words[n:])
    communes: list[str] = []
    sectors: list[str] = []
    category: str | None = None
    for mark, value in _TARGET_MARK.findall(spec):
        items = [v.strip() for v in value.split(",") if v.strip()]
        if mark == "@":
            communes += items
        elif mark == "#":
            sectors += items
        elif items:
            category = items[0].lower()
    return tuple(communes), tuple(sectors), category, message.strip()


def mask(text: str) -> str:
    """``ALERTE 1234 ...`` -> ``ALERTE **** ...``, ``OUI 4821`` -> ``OUI ****``; any other
    text as it is."""
    command = read_command(text)
    if command is None or command.kind not in (ALERT, CONFIRM) or not command.secret:
        return text
    return command.masked
