"""Members lists as Excel exports them in France: CSV, comma or semicolon, UTF-8 or
Windows-1252. Bad lines are reported by line number and skipped; the rest is imported in one
transaction; importing again updates; a number that sent STOP stays unsubscribed."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from modemd.phone import InvalidNumber, normalize
from modemd.store.db import Database
from modemd.subscribers import fold, upsert
from modemd.textfiles import NotText, decode_text

# Header names accepted for each field, folded (case, accents, spaces ignored).
COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "telephone", "tel", "portable", "mobile", "numero", "gsm"),
    "name": ("name", "nom", "enseigne", "raison sociale", "commerce", "societe"),
    "commune": ("commune", "ville", "localite", "city"),
    "sector": ("sector", "secteur", "activite", "metier", "type", "trade"),
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


class CsvError(ValueError):
    """The file cannot be imported at all (no phone column, not text)."""


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    kept_unsubscribed: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, what)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
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


def import_csv(db: Database, path: Path, now: float | None = None) -> ImportReport:
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines = text.splitlines()
    if not lines:
        raise CsvError("the file is empty")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    columns = _columns(rows[0])
    report = ImportReport()
    seen: dict[str, int] = {}
    now = time.time() if now is None else now
    with db.transaction() as conn:
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue

            def cell(name: str, row: list[str] = row) -> str:
                index = columns.get(name)
                return row[index].strip() if index is not None and index < len(row) else ""

            raw = cell("phone")
            try:
                number = normalize(raw)
            except InvalidNumber as exc:
                report.problems.append((line, exc.reason if raw else "no phone number"))
                continue
            if number in seen:
                report.problems.append((line, f"{number} already on line {seen[number]}; skipped"))
                continue
            seen[number] = line
            outcome = upsert(
                conn, number, cell("name"), cell("commune"), cell("sector"), "active", "import", now
            )
            if outcome == "added":
                report.added += 1
            elif outcome == "updated":
                report.updated += 1
            else:
                report.kept_unsubscribed += 1
    return report


def export_csv(db: Database, path: Path) -> int:
    """All members, semicolon-separated UTF-8 with a BOM (what Excel opens in France)."""
    rows = db.query(f"SELECT {', '.join(EXPORT_FIELDS)} FROM subscribers ORDER BY phone")
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(EXPORT_FIELDS)
        for row in rows:
            writer.writerow([_cell(row[name]) for name in EXPORT_FIELDS])
    return len(rows)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return str(value)
