"""Members lists in every format Excel saves in France, through the CLI as CCI staff use it.

The fixtures are the bytes Excel writes: "Texte Unicode" is UTF-16 LE with a BOM, tabs and
CRLF; "CSV (Macintosh)" is Mac Roman with lone CR line ends (a Windows-1252 file with CR line
ends is read too); "CSV (séparateur: point-virgule)" is Windows-1252 with CRLF.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modemd.members.registry import Registry
from modemd.store.db import open_database

ROWS = [
    ["Téléphone", "Nom", "Ville", "Activité"],
    ["06 12 34 56 78", "Boulangerie Gérard", "Arpajon-sur-Cère", "boulangerie"],
    ["0612345679", 'Bar "Le Central" « chez Zoé »', "Aurillac", "café"],
    ["+33 6 12 34 56 80", "Bijouterie Dupré", "Aurillac", "bijouterie"],
    ["612345681", "Pharmacie de l’Église", "Saint-Flour", "pharmacie"],  # Excel ate the 0
    ["07 00 00 00 01", "Garage Numéro Faux", "Murat", "garage"],
    ["33612345682", "Fleurs Lavergne", "Murat", "fleuriste"],  # Excel ate the +
]
BAD_LINE = 6


def excel_text(delimiter: str, line_end: str) -> str:
    """Rows as Excel writes them: a field with the delimiter or a quote is quoted."""

    def field(value: str) -> str:
        if delimiter in value or '"' in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(field(v) for v in row) + line_end for row in ROWS)


FORMATS = {
    "texte-unicode": b"\xff\xfe" + excel_text("\t", "\r\n").encode("utf-16-le"),
    "csv-macintosh": excel_text(";", "\r").encode("mac_roman"),
    "csv-macintosh-cp1252": excel_text(";", "\r").encode("cp1252"),
    "csv-windows": excel_text(";", "\r\n").encode("cp1252"),
    "csv-utf8": excel_text(",", "\r\n").encode("utf-8-sig"),
    "csv-utf8-no-bom": excel_text(";", "\n").encode("utf-8"),
}


def modemd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", "subscribers", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "modemd.yaml"
    path.write_text(f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n")
    return path


def members(config: Path) -> dict[str, dict[str, str]]:
    listed = modemd(config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {m["phone"]: m for m in json.loads(listed.stdout)}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_excel_format_imports(config: Path, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{fmt}.csv"
    path.write_bytes(FORMATS[fmt])
    result = modemd(config, "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "5 added, 0 updated" in result.stdout, result.stdout
    assert f'line {BAD_LINE}: "07 00 00 00 01" is not a valid French mobile number' in (
        result.stdout
    )
    found = members(config)
    assert found["+33612345678"]["name"] == "Boulangerie Gérard"
    assert found["+33612345678"]["commune"] == "Arpajon-sur-Cère"
    assert found["+33612345679"]["name"] == 'Bar "Le Central" « chez Zoé »'
    assert found["+33612345679"]["sector"] == "café"
    assert found["+33612345681"]["name"] == "Pharmacie de l’Église"
    assert found["+33612345682"]["commune"] == "Murat"

    again = modemd(config, "import", str(path))
    assert again.returncode == 0, again.stderr
    assert "0 added, 0 updated, 5 unchanged" in again.stdout, again.stdout


def test_a_changed_line_is_updated_the_rest_unchanged(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(FORMATS["csv-windows"])
    assert modemd(config, "import", str(path)).returncode == 0
    path.write_bytes(FORMATS["csv-windows"].replace(b"Arpajon-sur-C\xe8re", b"Aurillac"))
    again = modemd(config, "import", str(path))
    assert "0 added, 1 updated, 4 unchanged" in again.stdout, again.stdout


def test_problem_lines_show_the_value(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "phone;name\n06 12 34;Tronqué\n;Sans numéro\n06 1Z 34 56 78;Lettre\n"
        "+32 12;Belge\n0612345678;Bon\n06 12 34 56 78;Doublon\n",
        encoding="utf-8",
    )
    result = modemd(config, "import", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'line 2: "06 12 34" is not a valid French mobile number' in out
    assert "line 3: no phone number" in out
    assert 'line 4: "06 1Z 34 56 78" is not a phone number (it contains letters)' in out
    assert 'line 5: "+32 12" is not a valid phone number' in out
    assert 'line 7: "06 12 34 56 78" (+33612345678) is already on line 6; skipped' in out


def test_export_in_french_keeps_phones_as_text_and_reads_back(
    config: Path, tmp_path: Path
) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(FORMATS["csv-windows"])
    assert modemd(config, "import", str(source)).returncode == 0
    db = open_database(tmp_path / "state")
    with db.transaction() as conn:
        Registry(db).unsubscribe(conn, "+33612345680", "sms", 1.0)
    db.close()
    out = tmp_path / "export.csv"
    result = modemd(config, "export", str(out))
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads it as UTF-8
    lines = raw.decode("utf-8-sig").split("\r\n")
    header = lines[0].split(";")
    assert header[:5] == ["Téléphone", "Nom", "Commune", "Secteur", "Statut"]
    # A formula giving text: Excel shows +33612345678, not 33612345678 as a number.
    assert any(line.startswith('="+33612345678";Boulangerie Gérard;') for line in lines)
    rows = list(csv.reader(lines[1:], delimiter=";"))
    assert {r[4] for r in rows if r} == {"actif", "désinscrit"}

    # Re-importing the export changes nothing, and the STOP stays.
    back = modemd(config, "import", str(out))
    assert back.returncode == 0, back.stderr
    assert "0 added, 0 updated, 4 unchanged, 1 kept unsubscribed" in back.stdout, back.stdout
    assert "skipped" not in back.stdout.split("\n", 1)[1]  # no problem lines
    assert members(config)["+33612345680"]["status"] == "unsubscribed"


def test_export_in_english(config: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(FORMATS["csv-utf8"])
    assert modemd(config, "import", str(source)).returncode == 0
    out = tmp_path / "export.csv"
    assert modemd(config, "export", str(out), "--lang", "en").returncode == 0
    header = out.read_text(encoding="utf-8-sig").split("\r\n")[0].split(";")
    assert header[:5] == ["phone", "name", "commune", "sector", "status"]
    back = modemd(config, "import", str(out))
    assert "0 added, 0 updated, 5 unchanged" in back.stdout, back.stdout
