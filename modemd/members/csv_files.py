"""Members lists as Excel saves them in France: "CSV (séparateur: point-virgule)" (Windows-1252),
"CSV UTF-8", "Texte Unicode" (UTF-16, tab-separated) and "CSV (Macintosh)" (Mac Roman, lone CR
line ends); comma, semicolon or tab. Bad lines are reported with their line number and value,
and skipped; the rest is imported in one transaction; importing again updates what changed; a
number that sent STOP stays unsubscribed.

The export is read back by the import unchanged: its headers are ones the import accepts (in
French by default), and phones are written ``="+33612345678"``, a formula giving text, because
Excel opening a CSV turns ``+33612345678`` into the number 33612345678 and ``0612345678``
into 612345678. (A leading apostrophe is shown as typed when Excel opens a CSV, and a leading
tab is dropped with the text kept as a number.)
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from modemd.members.registry import fold, upsert
from modemd.phone import NOT_MOBILE, InvalidNumber, normalize_mobile
from modemd.store.db import Database
from modemd.textfiles import NotText, decode_text

# Header names accepted for each field, folded (case, accents, spaces ignored).
COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "telephone", "tel", "portable", "mobile", "numero", "gsm"),
    "name": ("name", "nom", "enseigne", "raison sociale", "commerce", "societe"),
    "commune": ("commune", "ville", "localite", "city"),
    "sector": ("sector", "secteur", "activite", "metier", "type", "trade"),
    "status": ("status", "statut"),
}
# A status column (as the export writes it) keeps pending requests and members who left as
# they are; without one, every line is an active member.
STATUS_WORDS = {
    "active": "active",
    "actif": "active",
    "pending": "pending",
    "en attente": "pending",
    "unsubscribed": "unsubscribed",
    "desinscrit": "unsubscribed",
}
EXPORT_FIELDS = (
    "phone",
    "name",
    "commune",
    "sector",
    "status",
    "consent_source",
    "consent_at",
    "unsubscribed_at",
    "request_text",
)
HEADERS = {
    "en": dict(zip(EXPORT_FIELDS, EXPORT_FIELDS, strict=True)),
    "fr": {
        "phone": "Téléphone",
        "name": "Nom",
        "commune": "Commune",
        "sector": "Secteur",
        "status": "Statut",
        "consent_source": "Origine du consentement",
        "consent_at": "Date du consentement",
        "unsubscribed_at": "Date de désinscription",
        "request_text": "Demande d'adhésion",
    },
}
STATUS_LABELS = {
    "en": {s: s for s in ("active", "pending", "unsubscribed")},
    "fr": {"active": "actif", "pending": "en attente", "unsubscribed": "désinscrit"},
}
DELIMITERS = ("\t", ";", ",")
_EXCEL_TEXT = re.compile(r'^="(.*)"$')  # ="+33612345678", as the export writes phones
_FORMULA_START = ("=", "+", "-", "@")


class CsvError(ValueError):
    """The file cannot be imported at all (no phone column, not text)."""


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, what)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept_unsubscribed": self.kept_unsubscribed,
            "problems": [{"line": n, "problem": p} for n, p in self.problems],
        }


def decode(data: bytes) -> str:
    try:
        return decode_text(data)
    except NotText as exc:
        raise CsvError(str(exc)) from exc


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = fold(raw)
        for name, aliases in COLUMNS.items():
            if key in aliases and name not in found:
                found[name] = index
    if "phone" not in found:
        raise CsvError(
            f"no phone column in the header ({', '.join(h for h in header if h) or 'empty'}); "
            "name it 'phone' or 'téléphone'"
        )
    return found


def _delimiter(header: str) -> str:
    """The separator the header line uses most (tab first on a tie: "Texte Unicode")."""
    return max(DELIMITERS, key=header.count)


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(first line number, cells) for each record; a quoted cell may span lines."""
    # Lone CRs (Mac) and CRLF (Windows) become LF, which the csv module reads in any cell.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records, line = [], 1
    for row in reader:
        records.append((line, row))
        line = reader.line_num + 1
    return records


def problem(raw: str, exc: InvalidNumber) -> str:
    """What is wrong with a phone cell, quoting it as written."""
    if not raw:
        return "no phone number"
    if exc.reason == "contains letters":
        return f'"{raw}" is not a phone number (it contains letters)'
    if exc.reason == NOT_MOBILE:
        return f'"{raw}" is not a mobile number: an SMS alert needs a mobile (06 or 07)'
    digits = re.sub(r"\D", "", raw)
    if raw.lstrip().startswith("+") or digits.startswith("00"):
        digits = digits.removeprefix("00")
        if not digits.startswith("33"):
            return f'"{raw}" is not a valid phone number'
        digits = digits[2:]
    national = digits if digits.startswith("0") else "0" + digits
    kind = "mobile" if national[:2] in ("06", "07") else "phone"
    return f'"{raw}" is not a valid French {kind} number'


def import_csv(db: Database, path: Path, now: float | None = None) -> ImportReport:
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines = text.splitlines()
    if not lines:
        raise CsvError("the file is empty")
    records = _records(text, _delimiter(lines[0]))
    columns = _columns(records[0][1])
    report = ImportReport()
    seen: dict[str, int] = {}
    now = time.time() if now is None else now
    with db.transaction() as conn:
        for line, row in records[1:]:
            if not any(cell.strip() for cell in row):
                continue

            def cell(name: str, row: list[str] = row) -> str:
                index = columns.get(name)
                value = row[index].strip() if index is not None and index < len(row) else ""
                quoted = _EXCEL_TEXT.match(value)
                return quoted.group(1).strip() if quoted else value

            raw = cell("phone")
            try:
                number = normalize_mobile(raw)
            except InvalidNumber as exc:
                report.problems.append((line, problem(raw, exc)))
                continue
            if number in seen:
                report.problems.append(
                    (line, f'"{raw}" ({number}) is already on line {seen[number]}; skipped')
                )
                continue
            seen[number] = line
            status = "active"
            if "status" in columns and cell("status"):
                word = fold(cell("status"))
                if word not in STATUS_WORDS:
                    report.problems.append(
                        (line, f'status "{cell("status")}" is not actif, en attente or désinscrit')
                    )
                    continue
                status = STATUS_WORDS[word]
            outcome = upsert(
                conn, number, cell("name"), cell("commune"), cell("sector"), status, "import", now
            )
            if outcome == "added":
                report.added += 1
            elif outcome == "updated":
                report.updated += 1
            elif outcome == "unchanged":
                report.unchanged += 1
            else:
                report.kept_unsubscribed += 1
    return report


def export_csv(db: Database, path: Path, lang: str = "fr") -> int:
    """All members, semicolon-separated UTF-8 with a BOM and CRLF (what Excel opens in
    France), headers in ``lang`` (fr or en)."""
    headers = HEADERS[lang]
    rows = db.query(f"SELECT {', '.join(EXPORT_FIELDS)} FROM subscribers ORDER BY phone")
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(";".join(_quote(headers[name]) for name in EXPORT_FIELDS) + "\r\n")
        for row in rows:
            cells = [f'="{row["phone"]}"']  # a formula giving text: see the module docstring
            for name in EXPORT_FIELDS[1:]:
                value = row[name]
                if name == "status":
                    value = STATUS_LABELS[lang].get(value, value)
                cells.append(_quote(_cell(value)))
            handle.write(";".join(cells) + "\r\n")
    return len(rows)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    text = str(value)
    if text.startswith(_FORMULA_START):
        # A name or a request typed by a shopkeeper must not run as a formula in Excel.
        text = "'" + text
    return text


def _quote(text: str) -> str:
    if any(ch in text for ch in ';"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
