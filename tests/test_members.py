"""The member registry: CSV import/export as Excel writes them, and the CLI around it."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from modemd.members.csv_files import CsvError, export_csv, import_csv
from modemd.members.registry import Registry
from modemd.store.db import Database, open_database

EXCEL_FR = (
    "Téléphone;Nom;Ville;Activité;Remarque\r\n"
    "06 12 34 56 78;Boulangerie Gérard;Arpajon-sur-Cère;boulangerie;\r\n"
    "0612345679;Tabac « Le Cantal »;Aurillac;tabac;client fidèle\r\n"
    "+33 6 12 34 56 80;Bijouterie Dupré;Aurillac;bijouterie;\r\n"
    "06 12 34;Numéro tronqué;Aurillac;tabac;\r\n"
    ";Sans numéro;Aurillac;tabac;\r\n"
    "06.12.34.56.78;Boulangerie Gérard (doublon);Arpajon-sur-Cère;boulangerie;\r\n"
    "\r\n"
    "0033 6 12 34 56 81;Pharmacie de l'Église;Saint-Flour;pharmacie;\r\n"
    "+32 470 12 34 56;Fournisseur belge;Bruxelles;grossiste;\r\n"
)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "state")


def test_windows_1252_semicolon_csv_with_accents_bad_numbers_and_duplicates(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "adherents.csv"
    path.write_bytes(EXCEL_FR.encode("cp1252"))
    report = import_csv(db, path)
    assert report.added == 5 and report.updated == 0
    assert [line for line, _ in report.problems] == [5, 6, 7]
    assert "already on line 2" in report.problems[2][1]
    registry = Registry(db)
    member = registry.get("06 12 34 56 79")
    assert member is not None and member.name == "Tabac « Le Cantal »"
    assert member.commune == "Aurillac" and member.sector == "tabac"
    assert registry.get("+32470123456") is not None  # foreign numbers too
    pharmacy = registry.get("+33612345681")
    assert pharmacy is not None and pharmacy.name == "Pharmacie de l'Église"


def test_reimport_updates_and_stop_stays_unsubscribed(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "phone,name,commune,sector\n0612345678,Old,Aurillac,tabac\n"
        "0612345679,Shop,Aurillac,tabac\n",
        encoding="utf-8",
    )
    import_csv(db, path)
    with db.transaction() as conn:
        Registry(db).unsubscribe(conn, "+33612345679", "sms", 1.0)
    path.write_text(
        "phone,name,commune,sector\n0612345678,New name,Murat,tabac\n"
        "0612345679,Shop,Aurillac,tabac\n",
        encoding="utf-8",
    )
    report = import_csv(db, path)
    assert (report.added, report.updated, report.kept_unsubscribed) == (0, 1, 1)
    registry = Registry(db)
    updated = registry.get("0612345678")
    assert updated is not None and (updated.name, updated.commune) == ("New name", "Murat")
    stopped = registry.get("0612345679")
    assert stopped is not None and stopped.status == "unsubscribed"


def test_removed_member_who_sent_stop_stays_out(db: Database, tmp_path: Path) -> None:
    registry = Registry(db)
    registry.add("0612345678")
    with db.transaction() as conn:
        registry.unsubscribe(conn, "+33612345678", "sms", 1.0)
    registry.remove("0612345678")
    member, outcome = registry.add("0612345678")
    assert outcome == "kept unsubscribed" and member.status == "unsubscribed"


def test_missing_phone_column_and_not_text(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("nom;ville\nX;Y\n", encoding="utf-8")
    with pytest.raises(CsvError, match="no phone column"):
        import_csv(db, path)
    path.write_bytes(b"\x81\x8d\x8f")
    with pytest.raises(CsvError, match="neither UTF-8 nor Windows-1252"):
        import_csv(db, path)


def test_export_opens_in_excel(db: Database, tmp_path: Path) -> None:
    Registry(db).add("0612345678", name="Épicerie", commune="Aurillac", sector="épicerie")
    path = tmp_path / "out.csv"
    assert export_csv(db, path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:5] == ["Téléphone", "Nom", "Commune", "Secteur", "Statut"]
    assert rows[1][1:5] == ["Épicerie", "Aurillac", "épicerie", "actif"]
    assert raw.decode("utf-8-sig").splitlines()[1].startswith('="+33612345678";')


def test_migration_from_schema_v1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "modemd.db"
    schema = (Path(__file__).parents[1] / "modemd/store/schema_v1.sql").read_text()
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    conn.execute(
        "INSERT INTO subscribers (phone, status, created_at, updated_at) "
        "VALUES ('+33612345678', 'active', 1, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    db = Database(path)
    latest = max(
        int(p.stem.removeprefix("schema_v"))
        for p in (Path(__file__).parents[1] / "modemd/store").glob("schema_v*.sql")
    )
    assert db.version == latest  # every later schema applied in place
    row = db.one("SELECT phone, request_text FROM subscribers")
    assert row is not None and row["phone"] == "+33612345678" and row["request_text"] is None
    assert db.query("SELECT * FROM optouts") == []


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "modemd.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    from modemd.store.db import StoreError

    with pytest.raises(StoreError, match="newer than this modemd understands"):
        Database(path)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", "subscribers", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_subscribers_commands(tmp_path: Path) -> None:
    config = tmp_path / "modemd.yaml"
    config.write_text(f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n")
    csv_path = tmp_path / "adherents.csv"
    csv_path.write_bytes(EXCEL_FR.encode("cp1252"))
    result = cli(config, "import", str(csv_path))
    assert result.returncode == 0, result.stderr
    assert "5 added, 0 updated" in result.stdout and "line 5:" in result.stdout
    assert (
        cli(config, "add", "07 81 22 33 44", "--name", "Garage", "--commune", "Murat").returncode
        == 0
    )
    listed = cli(config, "list", "--json")
    assert len(__import__("json").loads(listed.stdout)) == 6
    bad = cli(config, "add", "12")
    assert bad.returncode == 2 and "invalid phone number" in bad.stderr
    not_pending = cli(config, "approve", "07 81 22 33 44")
    assert not_pending.returncode == 2 and "not pending" in not_pending.stderr
    assert cli(config, "remove", "07 81 22 33 44").returncode == 0
    missing = cli(config, "remove", "07 81 22 33 44")
    assert missing.returncode == 2 and "not in the members list" in missing.stderr
    assert cli(config, "export", str(tmp_path / "out.csv")).returncode == 0
    assert (tmp_path / "out.csv").read_text(encoding="utf-8-sig").count("\n") == 6


def test_a_landline_is_refused_as_a_member_with_a_reason(tmp_path: Path) -> None:
    """An alert cannot reach a shop's landline by SMS: refused on import and on add, saying
    so, while a mobile of the same list goes in."""
    from modemd.members.csv_files import import_csv
    from modemd.members.registry import Details
    from modemd.operations.actor import Actor
    from modemd.operations.errors import InvalidInput
    from modemd.operations.members import add_member

    db = open_database(tmp_path / "state")
    csv = tmp_path / "m.csv"
    csv.write_text("phone;name\n04 71 45 00 00;Mairie\n0612345678;Tabac\n", encoding="utf-8")
    report = import_csv(db, csv)
    assert report.added == 1
    assert report.problems == [
        (2, '"04 71 45 00 00" is not a mobile number: an SMS alert needs a mobile (06 or 07)')
    ]
    with pytest.raises(InvalidInput) as exc:
        add_member(db, "0800 12 34 56", Details("", "", ""), Actor("cli", "x"))
    assert exc.value.problems[0].field == "phone" and "mobile" in exc.value.problems[0].message
