"""Generate tests/vectors/gammu_pdus.json: SMS PDUs from an independent encoder (gammu).

Not run by the test suite: the committed JSON is the test data. Regenerate with
Debian's gammu bindings, which exist for the system Python only::

    apt-get install -y python3-gammu gammu
    /usr/bin/python3 tests/vectors/make_vectors.py      # from the repository root

Each case records what gammu produced (``pdus``, ``tpdu_lengths``, and
``gammu_decode``: gammu's own decode of them), the inputs to give our encoder,
``ours``: what modemd's encoder produced when the file was generated, and
``gammu_decode_of_ours``: gammu's decode of those. ``compare`` says how the
tests use a case:

* ``hex``: our PDUs must equal gammu's byte for byte;
* ``tpdu``: equal after the SMSC prefix (see deviation 1);
* ``fields``: gammu cannot produce the same bytes, so the tests check our
  decode of gammu's PDUs and gammu's decode of ours field by field;
* ``decode``: a public PDU (3GPP / widely published examples, checked here by
  decoding it with gammu) whose expected decode is recorded in ``expect``.

Our PDUs are always decoded by gammu here, so even ``hex`` cases are checked
both ways. Deviations between gammu 1.42 and the spec/our encoder, and how
the cases cope with them:

1. gammu encodes "no SMSC" as ``01 81`` (a type octet and no digits); we use
   ``00``, which 3GPP TS 27.005 documents for "use the SIM's SMSC". Cases
   without SMSC are compared as ``tpdu``.
2. gammu always writes a relative TP-VP in SUBMITs (``Validity: "Max"`` is
   0xFF = 63 weeks); we omit TP-VP when no validity is asked. Hex cases pass
   the same duration to our encoder (63 weeks for "Max"); cases without
   validity are ``fields``.
3. gammu writes the SC timestamp time zone as +00 always: DELIVER cases use
   UTC timestamps.
4. gammu sets TP-MMS in a DELIVER only through ``RejectDuplicates`` (the same
   bit as TP-RD in a SUBMIT); it is set here so that the first octet matches
   ours (0x04: no more messages waiting).
5. gammu's concatenation reference is random: it is recorded as
   ``concat_reference`` and passed to our encoder.
6. gammu writes the length of a 4- to 6-character alphanumeric address as
   twice the character count ("ORANGE": 12 semi-octets); we write the useful
   semi-octets of 3GPP TS 23.040 9.1.2.5 (42 bits: 11). Other lengths agree
   (checked for 1-11 characters); "ORANGE" is a ``fields`` case.
7. gammu cannot encode SMS-STATUS-REPORT PDUs (its "StatusReport" layout is
   a SUBMIT with TP-SRR); our status reports are checked through gammu's
   decode only. python-gammu reports the TP-SCTS as ``DateTime`` and the
   discharge time TP-DT as ``SMSCDateTime``.
8. gammu's GSM-7 encoder turns the backtick (not in GSM-7) into "?"; texts
   with a backtick are UCS-2 cases. gammu's UCS-2 codec maps "~" to U+0001
   and back (a Nokia quirk), so no UCS-2 case contains "~".
9. gammu decodes the year "99" as 2089 (it adds 1990 to years >= 90); we
   read two-digit years as 20YY. The GSM-7 text python-gammu returns for a
   text with extension characters has the septet count as length: it ends
   with a NUL and then uninitialised memory, so it is cut at the first NUL
   (a GSM-7 text never decodes to a NUL character).
10. python-gammu's decode does not expose TP-SRR (a SUBMIT asking for a
    status report decodes as type "Submit"); TP-SRR is checked by the ``hex``
    cases, whose gammu PDUs were built with it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path
from typing import Any

import gammu

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from modemd.sms import gsm7  # noqa: E402
from modemd.sms.parts import Encoding  # noqa: E402
from modemd.sms.pdu import encode_deliver, encode_status_report, encode_submit  # noqa: E402

OUT = Path(__file__).with_name("gammu_pdus.json")
SMSC = "+33609001390"
RECIPIENT = "+33612345678"
# python-gammu validity strings -> minutes we pass to our encoder.
VALIDITY_MINUTES = {
    "Max": 63 * 7 * 24 * 60,
    "60M": 60,
    "90M": 90,
    "12H": 720,
    "1D": 1440,
    "2D": 2880,
    "7D": 7 * 1440,
}


def gammu_messages(text: str, unicode: bool, concat_bits: int = 8) -> list[dict[str, Any]]:
    entry = "ConcatenatedTextLong16bit" if concat_bits == 16 else "ConcatenatedTextLong"
    info = {"Class": -1, "Unicode": unicode, "Entries": [{"ID": entry, "Buffer": text}]}
    return list(gammu.EncodeSMS(info))


def concat_reference(messages: list[dict[str, Any]], concat_bits: int) -> int | None:
    if len(messages) == 1:
        return None
    udh = messages[0]["UDH"]
    return int(udh["ID16bit"] if concat_bits == 16 else udh["ID8bit"])


def tpdu_len(pdu: bytes) -> int:
    return len(pdu) - 1 - pdu[0]


def gammu_decode(hex_pdu: str) -> dict[str, Any]:
    d = gammu.DecodePDU(bytes.fromhex(hex_pdu), True)
    udh = d["UDH"]
    out: dict[str, Any] = {
        "type": d["Type"],
        "number": d["Number"],
        "smsc": d["SMSC"]["Number"],
        "coding": d["Coding"],
        "class": d["Class"],
        "message_reference": d["MessageReference"],
        "udh_type": udh["Type"],
        "udh_id8": udh["ID8bit"],
        "udh_id16": udh["ID16bit"],
        "udh_part": udh["PartNumber"],
        "udh_all": udh["AllParts"],
    }
    if d["Type"] == "Status_Report":
        out["status"] = d["DeliveryStatus"]
        out["scts"] = d["DateTime"].isoformat()
        out["discharge"] = d["SMSCDateTime"].isoformat()
    else:
        out["text"] = d["Text"].split("\x00", 1)[0]  # deviation 9
    if d["Type"] == "Submit":
        out["validity"] = d["SMSC"]["Validity"]
    if d["Type"] == "Deliver":
        out["timestamp"] = d["DateTime"].isoformat()
    return out


def submit_case(
    name: str,
    text: str,
    coding: str,
    *,
    recipient: str = RECIPIENT,
    gammu_recipient: str | None = None,
    smsc: str | None = SMSC,
    validity: str | None = "Max",
    status_report: bool = False,
    reference: int = 0,
    concat_bits: int = 8,
    note: str = "",
) -> dict[str, Any]:
    messages = gammu_messages(text, coding == "ucs2", concat_bits)
    pdus = []
    for msg in messages:
        msg["Number"] = gammu_recipient or recipient
        msg["SMSC"] = {"Location": 0, "Number": smsc or "", "Validity": validity or "Max"}
        msg["MessageReference"] = reference
        msg["Type"] = "Status_Report" if status_report else "Submit"  # Submit + TP-SRR
        pdus.append(gammu.EncodePDU(msg, "Submit"))
    ref = concat_reference(messages, concat_bits)
    minutes = VALIDITY_MINUTES[validity] if validity else None
    ours = encode_submit(
        recipient,
        text,
        Encoding(coding),
        smsc=smsc,
        status_report=status_report,
        validity=dt.timedelta(minutes=minutes) if minutes else None,
        reference=reference,
        concat_reference=ref,
        concat_bits=concat_bits,
    )
    compare = "hex" if smsc else "tpdu"
    if validity is None:
        compare = "fields"
    return {
        "name": name,
        "kind": "submit",
        "recipient": recipient,
        "text": text,
        "coding": coding,
        "class": -1,
        "smsc": smsc,
        "gammu_validity": validity,
        "validity_minutes": minutes,
        "status_report": status_report,
        "reference": reference,
        "concat_bits": concat_bits,
        "concat_reference": ref,
        "compare": compare,
        "pdus": [p.hex().upper() for p in pdus],
        "tpdu_lengths": [tpdu_len(p) for p in pdus],
        "gammu_decode": [gammu_decode(p.hex()) for p in pdus],
        "ours": [p.hex for p in ours],
        "ours_tpdu_lengths": [p.tpdu_length for p in ours],
        "gammu_decode_of_ours": [gammu_decode(p.hex) for p in ours],
        "note": note,
    }


def deliver_case(
    name: str,
    sender: str,
    text: str,
    coding: str,
    *,
    timestamp: dt.datetime = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
    concat_bits: int = 8,
    compare: str = "hex",
    note: str = "",
) -> dict[str, Any]:
    messages = gammu_messages(text, coding == "ucs2", concat_bits)
    pdus = []
    for msg in messages:
        msg["Number"] = sender
        msg["SMSC"] = {"Location": 0, "Number": SMSC, "Validity": "Max"}
        msg["Type"] = "Deliver"
        msg["DateTime"] = timestamp.replace(tzinfo=None)  # gammu writes TZ +00 (deviation 3)
        msg["RejectDuplicates"] = True  # TP-MMS (deviation 4)
        pdus.append(gammu.EncodePDU(msg, "Deliver"))
    ref = concat_reference(messages, concat_bits)
    ours = encode_deliver(
        sender,
        text,
        Encoding(coding),
        timestamp=timestamp,
        smsc=SMSC,
        concat_reference=ref,
        concat_bits=concat_bits,
    )
    return {
        "name": name,
        "kind": "deliver",
        "sender": sender,
        "text": text,
        "coding": coding,
        "class": -1,
        "smsc": SMSC,
        "timestamp": timestamp.isoformat(),
        "concat_bits": concat_bits,
        "concat_reference": ref,
        "compare": compare,
        "pdus": [p.hex().upper() for p in pdus],
        "tpdu_lengths": [tpdu_len(p) for p in pdus],
        "gammu_decode": [gammu_decode(p.hex()) for p in pdus],
        "ours": ours,
        "gammu_decode_of_ours": [gammu_decode(h) for h in ours],
        "note": note,
    }


def status_report_case(name: str, reference: int, recipient: str, status: int) -> dict[str, Any]:
    scts = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    discharge = dt.datetime(2024, 5, 6, 7, 8, 31, tzinfo=dt.UTC)
    ours = encode_status_report(reference, recipient, status, scts=scts, discharge=discharge)
    return {
        "name": name,
        "kind": "status_report",
        "recipient": recipient,
        "reference": reference,
        "status": status,
        "scts": scts.isoformat(),
        "discharge": discharge.isoformat(),
        "compare": "fields",
        "pdus": [],
        "tpdu_lengths": [],
        "gammu_decode": [],
        "ours": [ours],
        "gammu_decode_of_ours": [gammu_decode(ours)],
        "note": "gammu cannot encode status reports (deviation 7)",
    }


def public_case(name: str, hex_pdu: str, expect: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "public",
        "compare": "decode",
        "pdus": [hex_pdu],
        "gammu_decode": [gammu_decode(hex_pdu)],
        "expect": expect,
        "note": source,
    }


def filler(septets: int, seed: str = "Alerte commerces: individu suspect, rue de la Paix. ") -> str:
    """French-looking GSM-7 text of exactly ``septets`` single-septet characters."""
    return (seed * (septets // len(seed) + 1))[:septets]


def random_cases() -> list[dict[str, Any]]:
    rng = random.Random(20240506)
    gsm_chars = [c for c in gsm7.BASIC if c != "\x1b"] + list(gsm7.EXTENSION)
    # UCS-2 pool: French, symbols, BMP CJK and astral emoji; no "~" (deviation 8).
    ucs_pool = [*"abcdefXYZ éèàùçœÿ’«»…€ 0123", "漢", "字", "😀", "🚨", "👍", "\U00010348"]
    cases = []
    for i, length in enumerate([1, 37, 159, 160, 161, 200, 306, 307, 400, 459]):
        text = "".join(rng.choice(gsm_chars) for _ in range(length))
        cases.append(submit_case(f"random_gsm7_{i}_{length}", text, "gsm7"))
    for i, length in enumerate([1, 50, 69, 70, 71, 100, 134, 135, 200]):
        text = "".join(rng.choice(ucs_pool) for _ in range(length))
        cases.append(submit_case(f"random_ucs2_{i}_{length}", text, "ucs2"))
    return cases


def _check_text(obj: Any, path: str) -> None:
    """Fail loudly if gammu handed back a lone surrogate (uninitialised memory)."""
    if isinstance(obj, str):
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in obj):
            raise RuntimeError(f"lone surrogate at {path}: {obj!r}")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_text(value, f"{path}/{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _check_text(value, f"{path}/{i}")


def main() -> None:
    euro_boundary = filler(152) + "€" + filler(200, "Fermez les portes. ")
    assert gsm7.septet_count(euro_boundary) == 354  # parts of 152, 153 and 49 septets
    cases = [
        submit_case("plain_ascii", "Hello world, test 123", "gsm7"),
        submit_case(
            "french_accents",
            "Alerte: vol à l'étalage, rue Émile Zola. Où? Près de la gare, vêtu de noir.",
            "ucs2",
            note="ê is not GSM-7: a UCS-2 SMS; see french_accents_gsm7 for the GSM-7 letters",
        ),
        submit_case(
            "french_accents_gsm7", "Vol à l'étalage rue Émile Zola, où? Près de là: Ça", "gsm7"
        ),
        submit_case("extension_chars", "Prix 5€ [promo] {x} ~y^ a\\b |z", "gsm7"),
        submit_case("form_feed", "page1\x0cpage2", "gsm7"),
        submit_case("section_sign", "Article § 12, alinéa 3", "gsm7"),
        submit_case(
            "backtick_ucs2",
            "Tapez `stop` pour arrêter",
            "ucs2",
            note="backtick is not GSM-7; gammu's GSM-7 would send '?' (deviation 8)",
        ),
        submit_case("lhay_les_roses_ucs2", "L'Haÿ-les-Roses", "ucs2"),
        submit_case("emoji_ucs2", "Alerte 🚨 vol en cours 😀", "ucs2"),
        submit_case("at_end_8_septets", "Bonjour@", "gsm7"),
        submit_case("at_end_16_septets", "Alerte vol rues@", "gsm7"),
        submit_case("at_only_8", "@@@@@@@@", "gsm7"),
        submit_case(
            "seven_septets_fill",
            "Alerte!",
            "gsm7",
            note="7 septets: the last octet has 7 zero fill bits that are not an '@'",
        ),
        submit_case("seven_septets_ending_at", "Alerte@", "gsm7"),
        submit_case("gsm7_160", filler(160), "gsm7"),
        submit_case("gsm7_161_two_parts", filler(161), "gsm7"),
        submit_case(
            "multipart_3_euro_boundary",
            euro_boundary,
            "gsm7",
            note="€ would straddle septets 153/154: part 1 stops at 152 septets",
        ),
        submit_case("multipart_at_udh_boundary", filler(152) + "@" + filler(20), "gsm7"),
        submit_case("multipart_ucs2_2_parts", "Message d’alerte 😀 " * 5, "ucs2"),
        submit_case(
            "ucs2_emoji_at_boundary",
            "x" * 66 + "😀" + "y" * 20,
            "ucs2",
            note="the surrogate pair would straddle units 67/68: it moves to part 2",
        ),
        submit_case("multipart_gsm7_16bit", filler(200), "gsm7", concat_bits=16),
        submit_case("multipart_ucs2_16bit", "Texte ’ " * 12, "ucs2", concat_bits=16),
        submit_case(
            "status_report_request", "Rapport demandé", "gsm7", status_report=True, reference=42
        ),
        submit_case("validity_60m", "Valide une heure", "gsm7", validity="60M"),
        submit_case("validity_90m", "Valide 90 minutes", "gsm7", validity="90M"),
        submit_case("validity_12h", "Valide 12 heures", "gsm7", validity="12H"),
        submit_case("validity_1d", "Valide un jour", "gsm7", validity="1D"),
        submit_case("validity_2d", "Valide deux jours", "gsm7", validity="2D"),
        submit_case(
            "validity_7d_srr",
            "Une semaine",
            "gsm7",
            validity="7D",
            status_report=True,
            reference=200,
        ),
        submit_case(
            "national_number",
            "Numéro national",
            "gsm7",
            recipient="06 12 34 56 78",
            gammu_recipient="0612345678",
            note="gammu takes the spaces as digits: it is given the bare digits",
        ),
        submit_case("even_length_number", "Twelve digits", "gsm7", recipient="+447700900123"),
        submit_case("no_smsc", "Sans SMSC", "gsm7", smsc=None, note="deviation 1"),
        submit_case("no_validity", "Sans validité", "gsm7", validity=None, note="deviation 2"),
        submit_case(
            "no_validity_multipart_ucs2",
            "Pas de validité 😀 " * 5,
            "ucs2",
            validity=None,
            note="deviation 2",
        ),
        deliver_case("deliver_gsm7", "+33612345678", "Bonjour, à demain!", "gsm7"),
        deliver_case("deliver_national", "0612345678", "Numéro national", "gsm7"),
        deliver_case("deliver_shortcode", "36180", "Votre code: 1234", "gsm7"),
        deliver_case("deliver_alnum_8", "INFO SMS", "Message de service", "gsm7"),
        deliver_case(
            "deliver_alnum_6",
            "ORANGE",
            "Votre forfait",
            "gsm7",
            compare="fields",
            note="alphanumeric length 12 (gammu) vs 11 (ours): deviation 6",
        ),
        deliver_case("deliver_alnum_7", "AMELIFR", "Remboursement", "gsm7"),
        deliver_case("deliver_ucs2_emoji", "+33612345678", "Reçu 👍 L'Haÿ-les-Roses", "ucs2"),
        deliver_case("deliver_multipart_gsm7", "+33612345678", filler(300) + "€ fin", "gsm7"),
        deliver_case(
            "deliver_multipart_16bit", "+32470123456", filler(170), "gsm7", concat_bits=16
        ),
        deliver_case("deliver_multipart_ucs2", "+33612345678", "Œuvre n°1 😀 " * 10, "ucs2"),
        status_report_case("status_delivered", 42, "+33612345678", 0x00),
        status_report_case("status_pending", 7, "+33612345678", 0x30),
        status_report_case("status_failed", 255, "0612345678", 0x46),
        public_case(
            "public_deliver_hellohello",
            "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
            {
                "type": "deliver",
                "smsc": "+27381000015",
                "sender": "27838890001",
                "text": "hellohello",
                "timestamp": "2099-03-29T15:16:59+02:00",
            },
            "widely published SMS-DELIVER example (TON subscriber, TZ +08 quarters)",
        ),
        public_case(
            "public_submit_hellohello",
            "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
            {
                "type": "submit",
                "recipient": "+46708251358",
                "text": "hellohello",
                "reference": 0,
                "validity_minutes": 4 * 24 * 60,
            },
            "widely published SMS-SUBMIT example (no SMSC, TP-VP 0xAA = 4 days)",
        ),
        public_case(
            "public_status_report",
            "07911326040000F0061A0B914386211568F3012080314494000120803144950000",
            {
                "type": "status_report",
                "smsc": "+31624000000",
                "recipient": "+34681251863",
                "reference": 26,
                "status": 0,
                "scts": "2010-02-08T13:44:49+00:00",
                "discharge": "2010-02-08T13:44:59+00:00",
            },
            "published SMS-STATUS-REPORT example",
        ),
        *random_cases(),
    ]
    version = gammu.Version()
    doc = {
        "generator": "tests/vectors/make_vectors.py",
        "gammu_version": version[2],
        "python_gammu_version": version[1],
        "cases": cases,
    }
    _check_text(doc, "doc")
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    mismatched = [c["name"] for c in cases if c["compare"] == "hex" and c["pdus"] != c["ours"]]
    print(f"wrote {len(cases)} cases to {OUT}; hex mismatches: {mismatched or 'none'}")


if __name__ == "__main__":
    main()
