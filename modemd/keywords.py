"""The keyword grammar of inbound SMS: the first word decides.

Case, accents and the punctuation around the word are ignored, so ``Stop.``, `` stop svp``,
``ARRÊT`` and ``adhésion Boulangerie Martin, Aurillac`` all read as their keyword; the rest of
the text is kept (the shop's details of an ADHESION).
"""

from __future__ import annotations

import unicodedata

STOP, JOIN, HELP, OTHER = "stop", "join", "help", "other"

KEYWORDS: dict[str, str] = {
    "STOP": STOP,
    "ARRET": STOP,
    "DESINSCRIPTION": STOP,
    "DESABONNEMENT": STOP,
    "UNSUBSCRIBE": STOP,
    "ADHESION": JOIN,
    "INSCRIPTION": JOIN,
    "ABONNEMENT": JOIN,
    "START": JOIN,
    "AIDE": HELP,
    "INFO": HELP,
    "HELP": HELP,
    "?": HELP,
}

_PUNCTUATION = ".,;:!?¡¿\"'’‘`«»“”()[]{}<>-–—_*/\\|~…"


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def classify(text: str) -> tuple[str, str]:
    """(kind, rest of the text) for an inbound SMS."""
    stripped = text.strip()
    if not stripped:
        return OTHER, ""
    first, _, rest = stripped.partition(" ")
    if "\n" in first:  # "STOP\nmerci": the first line break also ends the word
        first, _, more = first.partition("\n")
        rest = f"{more} {rest}".strip()
    word = first.strip(_PUNCTUATION)
    if not word and set(first) <= set("?!. "):
        word = "?" if "?" in first else ""
    kind = KEYWORDS.get(_fold(word), OTHER)
    return kind, rest.strip().lstrip(_PUNCTUATION + " ").strip() if kind != OTHER else stripped
