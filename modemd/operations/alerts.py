"""Alerts: check, submit, cancel, list, show. An alert comes as a mapping (the keys of an
alert file) or as a file's bytes, and gets the alert file's validation either way."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from modemd.config import Config, parse_duration
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem, alert_problem
from modemd.operations.plans import plans
from modemd.operations.queries import Progress, alert_detail, progress
from modemd.operations.wake import wake_daemon
from modemd.pipeline.alerts import AlertFileError, AlertRequest, is_alert_name, parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.preview import Pace, Plan, check_report
from modemd.pipeline.spool import Spool, accept_alert
from modemd.store.db import Database
from modemd.store.lock import running_pid

log = logging.getLogger(__name__)

MAPPING_NAME = "alert.yaml"  # how an alert given as a mapping is named in messages


def read_alert(name: str, data: bytes, config: Config) -> AlertRequest:
    """An alert file's content, validated; InvalidInput says what is wrong."""
    if not is_alert_name(name):
        raise InvalidInput([Problem(None, "alert files end in .yaml, .yml or .txt")])
    try:
        return parse_alert(name, data, config.alerts)
    except AlertFileError as exc:
        raise InvalidInput([alert_problem(exc)]) from None


def alert_from_mapping(fields: Mapping[str, Any], config: Config) -> AlertRequest:
    """An alert given as keys (a form, an API body), with exactly the file's validation."""
    data = yaml.safe_dump(dict(fields), allow_unicode=True, sort_keys=False).encode()
    return read_alert(MAPPING_NAME, data, config)


@dataclass(frozen=True)
class AlertCheck:
    """What ``alert send --check`` shows: nothing is sent."""

    request: AlertRequest
    recipients: int
    report: dict[str, Any]  # text, encoding, parts, recipients, time, lost characters
    pace: Pace
    plans: list[Plan]


def check_alert(config: Config, db: Database, request: AlertRequest) -> AlertCheck:
    recipients = Registry(db).targeted(request.target)
    if not recipients:
        raise InvalidInput(
            [
                Problem(
                    "target", f"the target ({request.target.describe()}) matches no active member"
                )
            ]
        )
    # The time on the channels that will carry it: the primary ones; for an urgent alert
    # they would take longer than routing.overflow_after on, the overflow ones join (as the
    # pool does). Backup channels send only while no primary can: not counted here.
    every = plans(config, db)
    sim_plans = [(config.limits_of(m), h, speed) for m, h, speed in every if m.use == "primary"]
    now = time.time()
    report, pace = check_report(request, len(recipients), sim_plans, now)
    overflow = [(config.limits_of(m), h, speed) for m, h, speed in every if m.use == "overflow"]
    if (
        overflow
        and request.priority == "urgent"
        and pace.seconds > parse_duration(config.routing.overflow_after)
    ):
        sim_plans = sim_plans + overflow
        report, pace = check_report(request, len(recipients), sim_plans, now)
    return AlertCheck(request, len(recipients), report, pace, sim_plans)


@dataclass(frozen=True)
class Submitted:
    alert_id: str
    recipients: int
    duplicate: bool  # the same `id` was accepted before (as alert_id); nothing new queued
    key: str | None
    daemon: int | None  # the running daemon's PID, woken; None: it waits for one to start
    woken: bool
    done: str | None = None  # a submitted file: its copy's name in the spool's done/


def submit_alert(
    config: Config,
    db: Database,
    request: AlertRequest,
    actor: Actor,
    *,
    source_name: str | None = None,
    source_data: bytes | None = None,
) -> Submitted:
    """Queue an alert in the database and wake the daemon, which starts sending at once.
    A file's submission (``source_name`` and ``source_data``) is idempotent on its content
    as a spool file is, and its copy kept in ``done/`` as the spool keeps the files it takes."""
    try:
        accepted = accept_alert(
            Outbox(db),
            Registry(db),
            request,
            actor=str(actor),
            client=actor.client,
            source_name=source_name,
            source_sha256=hashlib.sha256(source_data).hexdigest() if source_data else None,
        )
    except AlertFileError as exc:
        raise InvalidInput([alert_problem(exc)]) from None
    pid = running_pid(config.state_dir)
    woken = not accepted.duplicate and pid is not None and wake_daemon(config.state_dir)
    done = None
    if source_data is not None and accepted.done_name is not None:
        # After the commit, as the intake moves a file only once its alert is stored. The
        # alert is queued whatever happens to the copy: a copy lost is not an alert lost.
        try:
            done = Spool(config.spool_dir).keep(accepted.done_name, source_data).name
        except OSError as exc:
            log.warning(
                "alert %s queued, but its file could not be kept in done/: %s",
                accepted.alert_id,
                exc.strerror or exc,
            )
    return Submitted(
        accepted.alert_id, accepted.recipients, accepted.duplicate, request.key, pid, woken, done
    )


@dataclass(frozen=True)
class Cancelled:
    alert_id: str
    already: str | None  # the alert was already done/cancelled/expired: nothing was changed
    cancelled: int  # recipients who will not get it
    begun: int  # messages already begun, being finished (the whole SMS is the unit)


def cancel_alert(db: Database, alert_id: str, actor: Actor) -> Cancelled:
    before = progress(db, alert_id=alert_id, limit=1)
    if not before:
        raise NotFound(f"no alert {alert_id!r} (see modemd alert list)")
    if before[0].state != "active":
        return Cancelled(before[0].alert_id, before[0].state, 0, 0)
    try:
        n = Outbox(db).cancel(alert_id, by=str(actor), client=actor.client)
    except KeyError:
        raise NotFound(f"no alert {alert_id!r} (see modemd alert list)") from None
    after = progress(db, alert_id=alert_id, limit=1)[0]
    return Cancelled(after.alert_id, None, n, after.unsent)


def list_alerts(db: Database, limit: int = 20) -> list[Progress]:
    return progress(db, limit=limit)


def show_alert(db: Database, alert_id: str) -> dict[str, Any]:
    """The alert and one line per recipient."""
    detail = alert_detail(db, alert_id)
    if detail is None:
        raise NotFound(f"no alert {alert_id!r} (see modemd alert list)")
    return detail
