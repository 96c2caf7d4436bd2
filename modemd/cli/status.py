"""``modemd run`` and ``modemd status``."""

from __future__ import annotations

import json
import sys
import time

from modemd.cli.common import Failure, database
from modemd.cli.reports import render_status
from modemd.config import Config
from modemd.operations.status import status as live_status
from modemd.store.lock import AlreadyRunning


def run(config: Config) -> int:
    from modemd.service.daemon import Daemon  # only `run` needs the daemon itself

    try:
        return Daemon(config).run()
    except AlreadyRunning as exc:
        raise Failure(str(exc)) from None


def status(config: Config, as_json: bool, watch: bool) -> int:
    """Exit 1 when no daemon runs: what is shown is then the stored queue only."""
    try:
        while True:
            running, text = _status_text(config, as_json)
            if watch and not as_json:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
                sys.stdout.flush()
            else:
                print(text, flush=True)
                if not watch:
                    break
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0  # the way out of --watch
    if not running:
        print("modemd: no daemon is running on this state folder", file=sys.stderr)
        return 1
    return 0


def _status_text(config: Config, as_json: bool) -> tuple[bool, str]:
    with database(config) as db:
        view = live_status(config, db)
    if as_json:
        return view.running, json.dumps(view.as_dict(), indent=2, ensure_ascii=False)
    text = render_status(
        view.live,
        view.alerts,
        view.eta,
        running_pid=view.pid,
        windows=view.windows,
        last_seen=view.last_seen,
    )
    failed = sum(w.failed for w in view.webhooks)
    if failed:
        # Given up after their retries (24 h by default): a receiving program missed these.
        text += f"\nwebhooks: {failed} event(s) given up after their retries (see the console)"
    return view.running, text
