"""The small things a new user notices in a day with modemd, each through the command line."""

from __future__ import annotations

import argparse
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modemd.cli.main import build_parser
from modemd.config import AlertsConfig
from modemd.members.registry import Registry
from modemd.pipeline.alerts import parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.store.db import open_database
from tests.trial_support import MODEMD, Lines, Sim, Site, wait_for

MANY = 2000  # enough lines to overflow a pipe's buffer, so `| head` closes it mid-write


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, Sim]]:
    sim = Sim(tmp_path, latency=0.01)
    s = Site(tmp_path, sim.port)
    yield s, sim
    s.close()
    sim.close()


def many_members_and_one_alert(s: Site) -> str:
    csv = s.root / "membres.csv"
    csv.write_text(
        "phone;name;commune\n"
        + "".join(f"+336{50_000_000 + i:08d};Commerce {i};Aurillac\n" for i in range(MANY)),
        encoding="utf-8",
    )
    assert s.cli("subscribers", "import", str(csv)).returncode == 0
    db = open_database(s.state)
    try:
        members = Registry(db).targeted(parse_alert("a.txt", b"x", AlertsConfig()).target)
        request = parse_alert("a.txt", "Vol à l'étalage.".encode(), AlertsConfig())
        accepted = Outbox(db).accept(request, members, source_name="a.txt", source_sha256="y")
    finally:
        db.close()
    return accepted.alert_id


def piped_to_head(s: Site, *args: str) -> str:
    """What a user sees on the terminal from `modemd ... | head -1` besides the first line."""
    command = shlex.join([*MODEMD, *args, "--config", str(s.config)])
    err = s.root / "stderr.txt"
    result = subprocess.run(
        ["bash", "-c", f"{command} 2>{err} | head -1"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.stdout.strip(), result
    return err.read_text()


def test_output_cut_short_by_head_ends_quietly(site: tuple[Site, Sim]) -> None:
    s, _ = site
    alert_id = many_members_and_one_alert(s)
    for args in (
        ("subscribers", "list"),
        ("alert", "show", alert_id),
        ("alert", "list", "--limit", "5"),
        ("status", "--watch"),
    ):
        said = piped_to_head(s, *args)
        assert "Traceback" not in said and "BrokenPipe" not in said, (args, said)


def test_ctrl_c_ends_status_watch_with_exit_0(site: tuple[Site, Sim]) -> None:
    s, _ = site
    watch = subprocess.Popen(
        [*MODEMD, "status", "--watch", "--config", str(s.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert watch.stdout is not None and watch.stderr is not None
    out = Lines(watch.stdout)
    assert out.wait(lambda line: "alerts:" in line)
    watch.send_signal(signal.SIGINT)
    assert watch.wait(15) == 0
    assert "Traceback" not in watch.stderr.read()
    out.join()
    watch.stdout.close()
    watch.stderr.close()


def _actions(parser: argparse.ArgumentParser, path: str = "modemd") -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        elif action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help or ""


def test_every_option_and_argument_has_a_help_text() -> None:
    missing = [where for where, text in _actions(build_parser()) if not text.strip()]
    assert missing == []


def test_cancel_help_says_the_files_id_works(site: tuple[Site, Sim]) -> None:
    s, _ = site
    text = s.cli("alert", "cancel", "--help").stdout
    assert re.search(r"the file's\s+`?id`?", text), text


def test_sim_takes_its_port_and_pin_from_the_configuration(tmp_path: Path) -> None:
    port = tmp_path / "ttyFromConfig"
    config = tmp_path / "modemd.yaml"
    config.write_text(
        f"modem: {{port: {port}, pin: '4321', command_timeout: 2}}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n",
        encoding="utf-8",
    )
    sim = subprocess.Popen(
        [*MODEMD, "sim", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        assert sim.stdout.readline().strip() == str(port)
        other = tmp_path / "other.yaml"
        # Its own state folder: doctor remembers a rejected PIN there, not to burn another.
        other.write_text(
            config.read_text().replace("'4321'", "'1111'").replace("/state", "/other-state"),
            encoding="utf-8",
        )
        wrong = subprocess.run(
            [*MODEMD, "doctor", "--config", str(other)], capture_output=True, text=True, timeout=60
        )
        assert wrong.returncode == 1 and "SIM" in wrong.stdout  # the sim asks 4321
        right = subprocess.run(
            [*MODEMD, "doctor", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert right.returncode == 0, right.stdout + right.stderr
    finally:
        sim.terminate()
        sim.wait(10)
        if sim.stdout is not None:
            sim.stdout.close()
    missing = subprocess.run(
        [*MODEMD, "sim", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_demo_uses_the_alert_settings_of_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "modemd.yaml"
    config.write_text("alerts: {reply_number: '+33611223344'}\n", encoding="utf-8")
    result = subprocess.run(
        [*MODEMD, "demo", "--config", str(config), "--latency", "0.02", "--subscribers", "4"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "STOP au +33611223344" in result.stdout


def test_the_simulators_input_takes_an_apostrophe_and_goes_on(site: tuple[Site, Sim]) -> None:
    _, sim = site
    sim.command("sms +33612345678 J'ai vu le scooter passer")
    sim.command("sms +33612345678 Il est reparti vers Arpajon")
    assert sim.stderr.wait(lambda line: "delivered in" in line, count=2), sim.stderr.text()
    assert "Traceback" not in sim.stderr.text()


def test_a_first_command_and_doctor_print_no_log_chatter(site: tuple[Site, Sim]) -> None:
    s, _ = site
    added = s.cli("subscribers", "add", "06 12 34 56 78")
    assert added.returncode == 0
    assert "schema version" not in added.stderr, added.stderr
    doctor = s.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stderr == "", doctor.stderr


def test_a_fresh_daemon_says_its_database_in_one_line(site: tuple[Site, Sim]) -> None:
    s, _ = site
    daemon = s.run_daemon()
    assert wait_for(lambda: s.ready(daemon)), s.log()
    assert s.stop(daemon) == 0
    assert s.log().count("schema version") == 1, s.log()


def test_incoming_files_give_local_time_with_its_offset(site: tuple[Site, Sim]) -> None:
    s, sim = site
    daemon = s.run_daemon(env={"TZ": "Europe/Paris"})
    assert wait_for(lambda: s.ready(daemon)), s.log()
    sim.command("sms +33612345678 Un scooter noir devant la bijouterie")
    incoming = s.spool / "incoming"
    assert wait_for(lambda: incoming.exists() and any(incoming.glob("*.txt"))), s.log()
    text = next(incoming.glob("*.txt")).read_text(encoding="utf-8")
    received = next(line for line in text.splitlines() if line.startswith("Received:"))
    assert re.search(r"\+0[12]:00$", received), received
    assert s.stop(daemon) == 0


def test_check_says_which_window_makes_it_long_and_warns_of_lost_characters(
    site: tuple[Site, Sim],
) -> None:
    s, _ = site
    s.config.write_text(s.config.read_text().replace("limits: {}", "limits: {per_hour: 2}"))
    s.members(5)
    alert = s.alert_file("braquage.yaml", 'message: "Braquage 🚨 au tabac, fuite en scooter."\n')
    result = s.cli("alert", "send", str(alert), "--check")
    assert result.returncode == 0, result.stderr
    assert "held back by the per_hour limit" in result.stdout, result.stdout
    assert re.search(r"warning: .*🚨.*'\?'", result.stdout + result.stderr), result
