"""``modemd demo --web``: after the demo's scenario, the console on the demo's own daemon
and simulator, a demo login printed; an alert sent from it goes out; Ctrl-C ends it all."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web_support import csrf_of, free_port, logged_in, wait_until


@pytest.mark.timeout(120)
def test_demo_with_the_console(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("modemd")), "demo", "--latency", "0.05",
         "--web", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "password" in line:
                break
        found = re.search(r"login (\S+), password (\S+)", "".join(lines))
        assert found, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        with logged_in(base, found.group(1), found.group(2)) as client:
            assert "Canal" in client.get("/").text  # the demo's modem, live
            listed = client.get("/alertes").text
            assert "terminée" in listed  # the demo's own alert
            answer = client.post(
                "/alertes/envoyer",
                data={"csrf": csrf_of(client), "message": "Essai depuis la console",
                      "communes": "Saint-Flour"},
            )
            assert answer.status_code == 303, answer.text
            page = answer.headers["location"].split("?")[0]

            def sent() -> bool:
                return "<strong id=\"live-state\">terminée</strong>" in client.get(page).text

            wait_until(sent, 30, "the console's alert to be sent")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
