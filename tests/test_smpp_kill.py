"""kill -9 at random moments during a 200-recipient fan-out over SMPP: nothing lost, extra
sends bounded by the kills.

The daemon runs as its own process, as in production; the SMS centre (smpp34's server, in
this process) outlives it and records every submit it took, at once, though it answers
50 ms later: a kill in between leaves a part the network has and the daemon does not know.
With a window of W submits awaiting their answer, a kill may leave up to W of them
unanswered in the daemon's records: each is in doubt and goes again at most once, so the
extra parts are at most W per kill.
"""

from __future__ import annotations

import random
import signal
import time
from collections import defaultdict
from pathlib import Path

from modemd.config import AlertsConfig
from modemd.pipeline.compose import AlertText, compose_alert
from modemd.sms.gsm7 import decode_septets
from modemd.testing_smsc import TestSmsc
from tests.smpp_support import add_members, make_config
from tests.trial_support import alert_state, start_daemon

MEMBERS = 200
KILLS = 6
WINDOW = 4
MESSAGE = (
    "Vol par ruse à la boulangerie de Montech : 600 € pris dans la caisse par un faux livreur."
)


def test_repeated_kill_9_on_the_smpp_path_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    state, spool = tmp_path / "state", tmp_path / "spool"
    with TestSmsc() as smsc:
        smsc.answer_delay = 0.05  # taken at once, answered later: a kill may fall between
        config = tmp_path / "modemd.yaml"
        config.write_text(
            f"spool_dir: {spool}\nstate_dir: {state}\n"
            "channels:\n"
            f"  - {{name: agg, kind: smpp, host: 127.0.0.1, port: {smsc.port},"
            " system_id: modemd, password: pw, source_addr: '38100', throughput: 60,"
            f" window: {WINDOW}, delivery_reports: false}}\n"
        )
        phones = add_members(make_config(tmp_path, []), MEMBERS)
        (spool / "outgoing").mkdir(parents=True)
        alert = tmp_path / ".alert.tmp"
        alert.write_text(f'message: "{MESSAGE}"\ncategory: vol_ruse\n', encoding="utf-8")
        alert.rename(spool / "outgoing" / "ruse.yaml")

        log = tmp_path / "daemon.log"
        kills = 0
        while kills < KILLS and alert_state(state) != "done":
            before = len(smsc.submits)
            daemon = start_daemon(config, log)
            deadline = time.monotonic() + 20
            while len(smsc.submits) == before and time.monotonic() < deadline:
                time.sleep(0.02)  # wait for this run to be sending, then strike at random
            time.sleep(rng.uniform(0.0, 0.6))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
            kills += 1
        daemon = start_daemon(config, log)
        deadline = time.monotonic() + 90
        while alert_state(state) != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert alert_state(state) == "done", log.read_text()[-3000:]
        accepted = smsc.accepted()

    expected = compose_alert(AlertText(MESSAGE, "vol_ruse"), AlertsConfig())
    messages: dict[tuple[str, int | None], dict[int, str]] = defaultdict(dict)
    for part in accepted:
        body = part.short_message
        concat = part.concat
        if concat is not None:
            body = body[1 + body[0] :]
        key = (part.destination, concat[0] if concat else None)
        messages[key][concat[2] if concat else 1] = decode_septets(list(body))
    complete: dict[str, int] = defaultdict(int)
    for (recipient, _), got in messages.items():
        if len(got) == expected.part_count:
            assert "".join(got[i] for i in sorted(got)) == expected.text
            complete[recipient] += 1
    assert sorted(complete) == sorted(p.lstrip("+") for p in phones)  # everyone, whole
    duplicates = sum(n - 1 for n in complete.values())
    extra_parts = len(accepted) - MEMBERS * expected.part_count
    print(f"kills={kills} window={WINDOW} duplicates={duplicates} extra_parts={extra_parts}")
    assert kills == KILLS
    assert duplicates <= kills * WINDOW and extra_parts <= kills * WINDOW, (duplicates, extra_parts)
