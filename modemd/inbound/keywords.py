"""The grammar of inbound SMS: a keyword first, or an opt-out in the shopkeeper's own words.

**The first word decides.** Case, accents and the punctuation around the word are ignored,
so ``Stop.``, `` stop svp``, ``ARRÊT`` and ``adhésion Boulangerie Martin, Aurillac`` all read as
their keyword; the rest of the text is kept (the shop's details of an ADHESION).

**Withdrawing consent must be as easy as giving it** (GDPR art. 7(3)), and people do not all
write STOP: "Arrêtez de m'envoyer ces messages" is as clear. So a text that is not a keyword
is read against tables of French opt-out phrasings (``OPTOUT_PHRASES``): a match unsubscribes,
exactly as STOP does, and gets the same reply.

**Decisions, for the cases in between** (the corpus in ``tests/test_optout_phrases.py`` holds
real-sounding replies for each):

- A stop keyword followed by politeness or by anything else still unsubscribes ("STOP merci",
  "stop svp", "Stop\\nmerci pour tout", "STOP SMS", "Arrêt des alertes"): a false negative
  means texting someone who said stop, the worse mistake.
- Except when what follows makes the keyword a slogan about the crime: "STOP au vol", "Stop
  aux cambriolages", "stop à la violence", "Stop les voleurs" (``SLOGAN_AFTER_STOP``), unless
  it also names our messages ("stop au vol, et stop à vos SMS" unsubscribes). Those are not
  acted upon but reach the operators marked as a *possible opt-out*, for a person to decide
  (``modemd subscribers unsubscribe`` when it is one).
- Texts that hint at leaving without asking clearly ("Trop de messages", "J'ai fermé ma
  boutique", "Mauvais numéro", "Arrêtez les !", a STOP in the middle of a sentence) are
  likewise marked as a possible opt-out (``POSSIBLE_OPTOUT``) and change nothing by
  themselves.
- Texts that only look like one are plain messages for the operators: "arrêtez-les !",
  "Arrêtez ce type" (about the thieves), "Surtout n'arrêtez pas" (``NOT_OPTOUT``: their
  matches are taken out of the text before it is read for the others, so "Arrêtez-les ! Et
  arrêtez de m'envoyer ces SMS" still unsubscribes).
- Robots' texts are never acted upon (see ``inbound``), whatever they say.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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

# The phrase tables below are regular expressions over the folded text (see _fold_text):
# lower case, no accents, apostrophes as ', words separated by one space, hyphens kept.
_MESSAGES = r"(sms|messages?|alertes?|textos?|envois?|notifications?|mails?|pubs?|spams?)"
_POLITE = r"(svp|stp|s'il vous plait|s'il te plait|merci( beaucoup| bien)?|please|pitie)"
_ME = r"(m'|me |nous |m )?"

# After a stop keyword: the keyword is a slogan about the crime, not about our messages.
SLOGAN_AFTER_STOP: tuple[str, ...] = (
    r"^(a|au|aux|a la|a l')( |$)",  # "stop au vol", "stop à la violence"
    r"^(les |le |la |l'|aux |ces )?(vols?|voleurs?|voleuses?|cambriol|braqu|agress|violence"
    r"|delinquan|insecurite|incivilit|escroc|arnaque|racket|trafic|casse)",
)

# A clear request to stop receiving alerts: unsubscribes.
OPTOUT_PHRASES: tuple[str, ...] = (
    # arrêtez de m'envoyer / cessez de m'écrire / arrête de me spammer
    r"\b(arretez|arrete|arreter|cessez|cesse|cesser|stoppez|stopper|stop) (de |d')?" + _ME
    + r"(envoy|adress|ecrire|contact|spam|harcel|bombard|inond|relancer)",
    # arrêtez les SMS / stoppez l'envoi / annulez mon abonnement
    r"\b(arretez|arrete|arreter|cessez|cesser|stoppez|stopper|stop|suspendez|supprimez|annulez"
    r"|resiliez|coupez|bloquez|arret) (les |ces |vos |tes |l'|mon |ma |mes |cet |cette |ce "
    r"|des |de |d'|du |aux |a |au )?(" + _MESSAGES[1:-1] + r"|abonnement|inscription)\b",
    # merci de ne plus m'envoyer / ne pas recevoir
    r"\bne (plus|pas) " + _ME + r"(envoyer|recevoir|ecrire|contacter)",
    # ne m'envoyez plus / n'envoyez plus
    r"\bn(e |')" + _ME + r"(envoyez|ecrivez|contactez) (plus|pas)\b",
    # je (ne) veux plus recevoir / je ne souhaite pas être inscrit / je ne veux plus de vos SMS
    r"\b(veux|veut|souhaite|voudrais|desire|souhaiterais|souhaitons|voulons) (plus|pas) "
    r"(recevoir|etre (inscrit|abonne|destinataire|sur|contacte)|(de |d')(vos |ces |tes |les )?"
    + _MESSAGES + r")",
    # je ne veux plus (alone)
    r"^(je |j' ?)?(ne |n')?(veux|souhaite) plus( " + _POLITE + r")*$",
    # me désinscrire, désinscrivez-moi, demande de désabonnement, radiez-moi
    r"\b(desinscri|desabonn|radiez|radier)",
    # retirez-moi / supprimez-moi / enlevez-nous
    r"\b(retirez|enlevez|supprimez|effacez|rayez|sortez|otez)[- ](moi|nous)\b",
    # supprimez mon numéro
    r"\b(retirez|enlevez|supprimez|effacez|rayez|otez) (mon|notre|ce) (numero|nom|contact"
    r"|telephone|portable|inscription|adresse)",
    # merci de me retirer de la liste
    r"\b(me|m'|nous) (retirer|enlever|supprimer|effacer|rayer|sortir) (de|du|des)\b",
    # plus de SMS svp
    r"^(merci )?plus (de |d' ?)" + _MESSAGES + r"\b",
    # laissez-moi tranquille / fichez-moi la paix
    r"\blaissez[- ](moi|nous) tranquilles?\b",
    r"\b(fichez|foutez)[- ](moi|nous) la paix\b",
    # arrêtez ! / arrêtez svp / stoppez tout
    r"^(arretez|arrete|arreter|cessez|stoppez|stopper)( (ca|cela|tout|maintenant|tout de suite"
    r"|immediatement|" + _POLITE[1:-1] + r"))*$",
    # ok stop / merci, stop / c'est bon stop
    r"^((ok|okay|bon|bonjour|merci|c'est bon|ca suffit|oui|alors|donc|bref) )+(stop|arret)"
    r"( " + _POLITE + r")*$",
    # je ne suis plus intéressé(e) / plus concerné
    r"\b(ne |n' ?)?(suis|sommes) plus (interesse|concerne)",
    # inutile de m'envoyer / pas la peine de m'écrire
    r"\b(inutile|pas la peine|pas besoin) (de |d')" + _ME + r"(envoy|ecrire|contact)",
    r"\bunsubscribe\b",
)

# Looks like an opt-out, is not: taken out of the text before the other tables are read.
NOT_OPTOUT: tuple[str, ...] = (
    # arrêtez-les / arrêtez-le : arrest them
    r"\barrete[sz]?-(les|le|la|lui|leur)\b",
    # arrêtez ce type / arrêtez le voleur
    r"\barrete[zr]? (le |la |les |ce |cet |cette |ces )(voleurs?|voleuses?|individus?|suspects?"
    r"|hommes?|femmes?|gars|types?|jeunes?|scooters?|voitures?|vehicules?|fuyards?)\b",
    # surtout n'arrêtez pas ; je ne veux pas me désinscrire ; ne me retirez pas
    r"\bn'(arretez|cessez|stoppez) (pas|jamais)\b",
    r"\bne (me |nous )?(desinscri|desabonn|retir|supprim|enlev|radi)\w* (pas|jamais)\b",
    r"\b(ne |n' ?)?(veux|souhaite|voudrais) (pas|surtout pas) (me |nous |etre )?"
    r"(desinscri|desabonn|retir|supprim|enlev|radi)\w*",
)

# Hints at leaving without asking clearly: marked for the operators, nothing else.
POSSIBLE_OPTOUT: dict[str, str] = {
    r"\b(stop|arret|desinscription|desabonnement)\b": "a stop word inside the text",
    r"\b(arretez|arrete|arreter|cessez|stoppez|stopper)\b": "asks to stop something",
    r"\b(trop|plus) (de |d' ?)" + _MESSAGES: "complains about the messages",
    r"\b(pas|plus) (interesse|concerne)": "says they are not interested",
    r"\b(ferme|cesse|vendu|arrete|cede|liquide)\w* (mon|ma|notre|le|la|l') ?(commerce|boutique"
    r"|magasin|activite|affaire|entreprise|fonds|societe|bar|restaurant)": "says the shop closed",
    r"\bretraite\b": "says they retired",
    r"\b(mauvais|faux) numero\b|\berreur de (numero|destinataire)\b|\bpas (le bon|la bonne) "
    r"(numero|personne)\b|\bje ne suis pas (commercant|commercante|concerne)": "wrong number",
}

_SLOGANS = [re.compile(p) for p in SLOGAN_AFTER_STOP]
_OPTOUTS = [re.compile(p) for p in OPTOUT_PHRASES]
_NOT_OPTOUTS = [re.compile(p) for p in NOT_OPTOUT]
_POSSIBLE = [(re.compile(p), why) for p, why in POSSIBLE_OPTOUT.items()]
_MESSAGES_RE = re.compile(r"\b" + _MESSAGES + r"\b")


@dataclass(frozen=True)
class Reading:
    """What an inbound SMS asks for."""

    kind: str  # stop | join | help | other
    rest: str  # join: the shop's details; other: the whole text
    possible_optout: str = ""  # other: why a person should check whether it is a STOP


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def _fold_text(text: str) -> str:
    """``Arrêtez de m’envoyer ces messages !`` -> ``arretez de m'envoyer ces messages``."""
    bare = _fold(text).lower().replace("œ", "oe").replace("æ", "ae")
    bare = re.sub(r"[’‘`´]", "'", bare)
    bare = re.sub(r"[^\w'\-]+", " ", bare)  # punctuation and line breaks: one space
    bare = re.sub(r"(?<!\w)-|-(?!\w)", " ", bare)  # a hyphen joins words, else it is a dash
    return " ".join(bare.split())


def read_sms(text: str) -> Reading:
    """What an inbound SMS asks for (see the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return Reading(OTHER, "")
    first, _, rest = stripped.partition(" ")
    if "\n" in first:  # "STOP\nmerci": the first line break also ends the word
        first, _, more = first.partition("\n")
        rest = f"{more} {rest}".strip()
    word = first.strip(_PUNCTUATION)
    if not word and set(first) <= set("?!. "):
        word = "?" if "?" in first else ""
    kind = KEYWORDS.get(_fold(word), OTHER)
    rest = rest.strip().lstrip(_PUNCTUATION + " ").strip()
    if kind == STOP:
        folded_rest = _fold_text(rest)
        slogan = any(p.search(folded_rest) for p in _SLOGANS)
        if slogan and not _MESSAGES_RE.search(folded_rest):
            return Reading(OTHER, stripped, f"starts with {word} but reads as a slogan")
        return Reading(STOP, rest)
    if kind != OTHER:
        return Reading(kind, rest)
    return _read_phrases(stripped)


def _read_phrases(text: str) -> Reading:
    folded = _fold_text(text)
    for pattern in _NOT_OPTOUTS:
        folded = " ".join(pattern.sub(" ", folded).split())
    if any(p.search(folded) for p in _OPTOUTS):
        return Reading(STOP, "")
    why = next((why for p, why in _POSSIBLE if p.search(folded)), "")
    return Reading(OTHER, text, why)
