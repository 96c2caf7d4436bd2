"""The console in a real browser (Debian's chromium), against ``modemd web`` and ``modemd
run`` as separate processes, on the simulated modem (``modemd sim`` on a pseudo-terminal,
which also acknowledges each SMS with a delivery report and takes inbound SMS on its stdin).

Log in; write an alert with ’ « » œ € and watch the preview and the counter change; send
it; watch the progress bar reach the end without a reload and the delivered count from the
reports; cancel an alert in progress; import a Windows-1252 ``;`` CSV and read the report
line by line; approve a join request made by SMS; read a free-text reply. Screenshots of
the main pages are saved as artefacts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import browser, chromium_path, screenshot
from tests.web_support import free_port, wait_until, web_process

pytestmark = pytest.mark.timeout(180)
PASSWORD = "mot de passe de test"
MODEMD = Path(sys.executable).with_name("modemd")


@dataclass
class Stack:
    base: str
    config: Path
    sim: subprocess.Popen[str]
    root: Path

    def sms(self, number: str, text: str) -> None:
        """An SMS arriving at the modem, typed on the simulator's stdin."""
        assert self.sim.stdin is not None
        self.sim.stdin.write(f"sms {number} {text}\n")
        self.sim.stdin.flush()

    def modemd(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(MODEMD), *args, "--config", str(self.config)],
            input=stdin, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium_path()  # skip (or fail under CI) before starting anything
    root = tmp_path_factory.mktemp("console")
    link = root / "ttyModem"
    sim = subprocess.Popen(
        [str(MODEMD), "sim", "--link", str(link), "--latency", "0.25"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    wait_until(link.exists, what="the simulator's pty")
    port = free_port()
    config = root / "modemd.yaml"
    config.write_text(
        f"modem:\n  port: {link}\n  command_timeout: 5\n"
        f"spool_dir: {root}/spool\nstate_dir: {root}/state\nlog_level: WARNING\n"
        f"web:\n  listen: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    s = Stack(f"http://127.0.0.1:{port}", config, sim, root)
    for login, role in (("officier", "operateur"), ("agent", "cci"), ("chef", "admin")):
        s.modemd("users", "add", login, "--role", role, "--password-stdin", stdin=PASSWORD)
    for i in range(6):
        s.modemd("subscribers", "add", f"06 11 00 00 0{i}", "--name", f"Bijouterie {i}",
                 "--commune", "Aurillac", "--sector", "bijouterie")
    for i in range(40):
        s.modemd("subscribers", "add", f"06 22 00 00 {i:02d}", "--name", f"Tabac {i}",
                 "--commune", "Saint-Flour", "--sector", "tabac")
    daemon = subprocess.Popen(
        [str(MODEMD), "run", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((root / "state" / "status.json").exists, 30, "the daemon")
        with web_process(config, port):
            yield s
    finally:
        daemon.terminate()
        daemon.wait(20)
        sim.terminate()
        sim.wait(10)
        if sim.stdin is not None:
            sim.stdin.close()


@pytest.fixture(scope="module")
def chromium(stack: Stack) -> Iterator[Any]:
    with browser() as launched:
        yield launched


def _page(chromium: Any, stack: Stack, login: str) -> Any:
    context = chromium.new_context(base_url=stack.base, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/")
    assert "/connexion" in page.url  # no session: the login page
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(stack.base + "/")
    return page


def _shows(page: Any, element: str, text: str) -> None:
    """Until the element with that id shows exactly that text (pushed or re-checked)."""
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text", arg=[element, text]
    )


def _text(page: Any, selector: str) -> str:
    return str(page.inner_text(selector))


def test_write_preview_send_and_follow_an_alert_live(chromium: Any, stack: Stack) -> None:
    page = _page(chromium, stack, "officier")
    screenshot(page, "tableau-de-bord")
    page.click("text=Nouvelle alerte")
    page.wait_for_function("() => document.getElementById('sms-recipients').textContent !== '—'")
    everyone = int(_text(page, "#sms-recipients"))
    assert everyone == 46
    page.fill("#message", "Vol à l’arraché « rue Neuve » : œuvre volée")
    page.wait_for_function(
        "() => document.getElementById('sms-text').textContent.includes('arraché')"
    )
    shown = _text(page, "#sms-text")
    assert "l'arraché \"rue Neuve\"" in shown and "oeuvre" in shown  # as the phone shows it
    assert _text(page, "#sms-encoding") == "GSM-7"
    left = int(_text(page, "#sms-left"))
    page.type("#message", " 100 €")  # five characters, and € takes two septets
    _shows(page, "sms-left", str(left - 7))
    assert _text(page, "#sms-parts") == "1"
    page.check("input[name=communes][value=Aurillac]")
    _shows(page, "sms-recipients", "6")
    assert "s" in _text(page, "#sms-time")
    screenshot(page, "nouvelle-alerte")

    page.click("text=Vérifier et envoyer")
    assert _text(page, "#confirm-recipients") == "6"
    page.click("#confirm-send")
    page.wait_for_url("**/alertes/*")
    page.evaluate("() => { window.notReloaded = true; }")
    page.wait_for_function(
        "() => { const b = document.getElementById('live-bar');"
        " return b.value >= b.max && b.max === 6; }",
        timeout=60_000,
    )
    _shows(page, "live-delivered", "6")
    assert page.evaluate("() => window.notReloaded === true")  # pushed, not reloaded
    assert _text(page, "#live-sent") == "6"
    _shows(page, "live-state", "terminée")
    assert page.locator("#recipients td.report", has_text="reçu").count() == 6
    screenshot(page, "alerte")


def test_cancel_an_alert_in_progress(chromium: Any, stack: Stack) -> None:
    page = _page(chromium, stack, "officier")
    page.goto("/alertes/nouvelle")
    page.fill("#message", "Faux démarcheurs signalés, à annuler")
    page.check("input[name=communes][value=Saint-Flour]")
    _shows(page, "sms-recipients", "40")
    page.click("text=Vérifier et envoyer")
    page.click("#confirm-send")
    page.wait_for_url("**/alertes/*")
    page.wait_for_function("() => Number(document.getElementById('live-sent').textContent) >= 1")
    questions: list[str] = []

    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.click("#cancel-form button")
    page.wait_for_url("**fait=annulee")
    assert questions and "Annuler" in questions[0]  # asked first
    assert "Alerte annulée" in _text(page, "main")
    _shows(page, "live-state", "annulée")
    cancelled = int(_text(page, "#live-cancelled"))
    assert cancelled > 0
    assert int(_text(page, "#live-sent")) + cancelled <= 40


CSV = (
    "Téléphone;Nom;Commune;Secteur\r\n"
    "06 33 00 00 01;Crêperie Élodie;Mauriac;crêperie\r\n"
    "pas un numéro;Café;Mauriac;bar\r\n"
    "07 33 00 00 02;Boucherie « Au Bœuf »;Mauriac;boucherie\r\n"
)


def test_import_a_windows_1252_csv_and_read_the_report(chromium: Any, stack: Stack) -> None:
    path = stack.root / "adherents.csv"
    path.write_bytes(CSV.encode("cp1252"))
    page = _page(chromium, stack, "agent")
    page.click("text=Membres")
    page.click("text=Importer un CSV")
    page.set_input_files("input[type=file]", str(path))
    page.click("form[enctype] button[type=submit]")
    report = _text(page, "#import-report")
    assert "2 ajoutés" in report and "1 ligne ignorée" in report
    row = _text(page, "#import-report tbody tr")
    assert row.startswith("3") and "pas un numéro" in row
    screenshot(page, "import")
    page.goto("/membres?commune=Mauriac")
    assert "Boucherie « Au Bœuf »" in _text(page, "#members")
    assert "Crêperie Élodie" in _text(page, "#members")
    screenshot(page, "membres")


def test_approve_a_join_request_made_by_sms(chromium: Any, stack: Stack) -> None:
    stack.sms("+33644556677", "ADHESION Boulangerie Dupont Aurillac")
    page = _page(chromium, stack, "agent")
    page.goto("/membres/demandes")

    def arrived() -> bool:
        page.reload()
        return "+33644556677" in _text(page, "main")

    wait_until(arrived, 30, "the join request")
    assert "Boulangerie Dupont" in _text(page, "article.request")
    page.fill("article.request input[name=sector]", "boulangerie")
    page.click("article.request button:has-text('Approuver')")
    assert "Demande approuvée" in _text(page, "main")
    page.goto("/membres?statut=active&commune=Aurillac")
    assert "+33644556677" in _text(page, "#members")


def test_read_a_free_text_reply_and_mark_it_handled(chromium: Any, stack: Stack) -> None:
    stack.sms("+33611000001", "J'ai vu la voiture <b>noire</b> partir vers Arpajon")
    page = _page(chromium, stack, "officier")
    page.goto("/reponses")

    def arrived() -> bool:
        page.reload()
        return "voiture" in _text(page, "#replies")

    wait_until(arrived, 30, "the reply")
    assert "J'ai vu la voiture <b>noire</b> partir vers Arpajon" in _text(page, "#replies")
    assert "Bijouterie 1" in _text(page, "#replies")
    screenshot(page, "reponses")
    page.click("#replies button:has-text('Marquer traitée')")
    assert "par web:officier" in _text(page, "#replies")


def test_admin_pages(chromium: Any, stack: Stack) -> None:
    page = _page(chromium, stack, "chef")
    page.goto("/journal")
    journal = _text(page, "#journal")
    assert "web:officier" in journal and "accepted" in journal and "cancelled" in journal
    screenshot(page, "journal", full_page=False)
    page.goto("/utilisateurs")
    assert "officier" in _text(page, "#users")
    screenshot(page, "utilisateurs")
    page.goto("/")
    screenshot(page, "tableau-de-bord")
