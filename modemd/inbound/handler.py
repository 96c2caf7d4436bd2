"""Inbound SMS: STOP unsubscribes at once, ADHESION asks to join, AIDE gets help, anything
else reaches the operators.

Each message is handled in one transaction (the registry change, the log line and any reply
queued together) before the modem deletes it from its storage. Replies are limited per number
and day and never go to alphanumeric senders or short codes, so two robots cannot loop.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from modemd.channels.base import InboundSms
from modemd.config import InboundConfig
from modemd.inbound.inbox import write_incoming
from modemd.inbound.keywords import HELP, JOIN, OTHER, STOP, read_sms
from modemd.members.registry import Details, Registry, Subscriber
from modemd.phone import InvalidNumber, is_alphanumeric_or_short, normalize
from modemd.pipeline.outbox import Outbox
from modemd.sms.parts import compose
from modemd.store import audit
from modemd.store.db import Database

log = logging.getLogger(__name__)

DAY = 86400.0
FORWARD_PARTS = 3  # a forward longer than this is cut; the whole text is in incoming/

# ADHESION outcome -> the reply it gets.
JOIN_REPLIES = {
    "pending": "adhesion_pending",
    "already_pending": "adhesion_pending",
    "accepted": "adhesion_accepted",
    "resubscribed": "resubscribed",
    "already_active": "already_active",
}


@dataclass(frozen=True)
class Handled:
    kind: str  # stop | join | help | other | command
    sender: str
    outcome: str = ""  # for join: pending, accepted, resubscribed...
    replied: bool = False
    forwarded: int = 0
    cancelled: int = 0  # unsent SMS to the number cancelled by a STOP
    file: Path | None = None
    possible_optout: str = ""  # other: why a person should check whether it is a STOP


@dataclass(frozen=True)
class CommandTaken:
    """An SMS a command face (alerts by SMS from registered numbers) carried out."""

    command: str  # alert | confirm | abandon | cancel | state
    kept_text: str  # the SMS as it may be stored: its PIN or code masked
    answered: bool


class CommandFace(Protocol):
    """What the inbound handler asks of the SMS commands face (wired by the daemon)."""

    def handle(self, sender: str, text: str, via: str | None) -> CommandTaken | None:
        """Carry out a command of a registered sender; None: not one, handle as usual."""

    def mask(self, text: str) -> str:
        """The text with any PIN or code a command would carry masked: what is kept of an
        SMS that is not a command (a stranger's ``ALERTE 1234 ...``) never holds one."""


COMMAND = "command"


class Inbound:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        registry: Registry,
        config: InboundConfig,
        incoming: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        commands: CommandFace | None = None,
    ) -> None:
        self.db = db
        self.commands = commands
        self.outbox = outbox
        self.registry = registry
        self.config = config
        self.incoming = incoming
        self.clock = clock
        self.on_queued = on_queued
        self.counts: Counter[str] = Counter()  # by kind, since start (metrics)

    def handle(self, message: InboundSms, via: str | None = None) -> Handled:
        """Act on one inbound SMS; ``via`` is the channel it came through (replies leave
        from the same number)."""
        now = self.clock()
        robot = not message.sender or is_alphanumeric_or_short(message.sender)
        sender = message.sender or "unknown"
        if not robot:
            try:
                sender = normalize(message.sender)
            except InvalidNumber:
                robot = True  # not a number anyone can answer
        if self.commands is not None:
            taken = None if robot else self.commands.handle(sender, message.text, via)
            if taken is not None:
                return self._command(sender, taken, now)
            message = dataclasses.replace(message, text=self.commands.mask(message.text))
        reading = read_sms(message.text)
        kind, rest, maybe = reading.kind, reading.rest, reading.possible_optout
        if robot:
            kind, maybe = OTHER, ""  # robots' keywords are not acted upon; operators see them
        outcome, cancelled, reply, forwards = "", 0, None, 0
        path = None
        if kind == OTHER:
            note = (
                f"possible opt-out ({maybe}); if it is one: modemd subscribers unsubscribe "
                f"{sender}"
                if maybe
                else None
            )
            path = write_incoming(
                self.incoming, message, datetime.fromtimestamp(now, UTC), sender=sender, note=note
            )
        with self.db.transaction() as conn:
            if kind == STOP:
                cancelled = self.registry.unsubscribe(conn, sender, "sms", now)
                audit.record(
                    conn,
                    now,
                    "member_unsubscribed",
                    actor=f"sms:{sender}",
                    phone=sender,
                    detail={"by": "STOP", "cancelled": cancelled},
                )
                reply = "stop"
            elif kind == JOIN:
                outcome = self.registry.request_join(
                    conn, sender, rest, self.config.auto_approve, now
                )
                audit.record(
                    conn,
                    now,
                    "member_requested",
                    actor=f"sms:{sender}",
                    phone=sender,
                    detail={"outcome": outcome},
                )
                reply = JOIN_REPLIES[outcome]
            elif kind == HELP:
                reply = "help"
            replied = (
                reply is not None
                and not robot
                and _today(conn, sender, "replied", now) < self.config.reply_limit_per_day
            )
            if replied and reply is not None:
                text = self.config.replies[reply]
                self.outbox.queue_message(conn, sender, compose(text), "reply", now, modem=via)
            if (
                kind == OTHER
                and not robot
                and self.config.operator_numbers
                and _today(conn, sender, "forwarded", now) < self.config.forward_limit_per_day
            ):
                forwards = self._forward(conn, sender, message.text, now, bool(maybe))
            conn.execute(
                "INSERT INTO inbound (at, phone, kind, text, replied, forwarded) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, sender, kind, message.text, int(replied), forwards),
            )
        if (replied or forwards or cancelled) and self.on_queued is not None:
            self.on_queued()  # wake the dispatcher: new SMS to send, or its current one gone
        self.counts[kind] += 1
        handled = Handled(kind, sender, outcome, replied, forwards, cancelled, path, maybe)
        self._log(handled, robot)
        return handled

    def _command(self, sender: str, taken: CommandTaken, now: float) -> Handled:
        """Kept like any inbound SMS, its secret masked; its answer is already queued."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO inbound (at, phone, kind, text, replied, forwarded) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                (now, sender, COMMAND, taken.kept_text, int(taken.answered)),
            )
        if self.on_queued is not None:
            self.on_queued()  # an answer to send, an alert to start, or one cancelled
        self.counts[COMMAND] += 1
        return Handled(COMMAND, sender, taken.command, taken.answered)

    def _forward(
        self, conn: sqlite3.Connection, sender: str, text: str, now: float, maybe_stop: bool
    ) -> int:
        member = self.registry.get(sender)
        who = f"{sender} ({member.name})" if member is not None and member.name else sender
        flag = "DESINSCRIPTION POSSIBLE ? " if maybe_stop else ""
        body = f"Alerte Commerces - {flag}SMS de {who} :\n{text.strip()}"
        composition = compose(body)
        while composition.part_count > FORWARD_PARTS:
            body = body[: int(len(body) * 0.9)].rstrip() + "..."
            composition = compose(body)
        for number in self.config.operator_numbers:
            self.outbox.queue_message(conn, normalize(number), composition, "forward", now)
        return len(self.config.operator_numbers)

    @staticmethod
    def _log(handled: Handled, robot: bool) -> None:
        who = f"{handled.sender}{' (robot: no reply)' if robot else ''}"
        if handled.kind == STOP:
            log.info("STOP from %s: unsubscribed, %d unsent SMS cancelled", who, handled.cancelled)
        elif handled.kind == JOIN:
            log.info("ADHESION from %s: %s", who, handled.outcome)
        elif handled.kind == HELP:
            log.info("AIDE from %s", who)
        else:
            log.info(
                "SMS from %s saved as %s%s%s",
                who,
                handled.file.name if handled.file else "-",
                f", forwarded to {handled.forwarded} operator(s)" if handled.forwarded else "",
                f"; possible opt-out: {handled.possible_optout}" if handled.possible_optout else "",
            )


@dataclass(frozen=True)
class Approval:
    member: Subscriber
    guessed: tuple[str, ...]  # the fields read from the request, not given nor known before


def approve_request(
    db: Database,
    config: InboundConfig,
    phone: str,
    given: Details,
    now: float | None = None,
    actor: str = audit.SYSTEM,
    client: str | None = None,
) -> Approval:
    """The CCI accepts a pending ADHESION: the member becomes active with its details, and
    the ``adhesion_accepted`` reply is queued in the same transaction (see _reply_later)."""
    registry = Registry(db)
    number = normalize(phone)
    now = time.time() if now is None else now
    before = registry.get(number)
    with db.transaction() as conn:
        details = registry.approve_in(conn, number, given, now)
        audit.record(
            conn, now, "member_approved", actor=actor, client=client, phone=number,
            detail={"name": details.name, "commune": details.commune, "sector": details.sector},
        )
        _reply_later(conn, db, number, config.replies["adhesion_accepted"], now)
    member = registry.get(number)
    assert member is not None and before is not None
    guessed = tuple(
        field
        for field in ("name", "commune", "sector")
        if getattr(details, field) and not getattr(given, field) and not getattr(before, field)
    )
    log.info("ADHESION of %s approved; confirmation queued", number)
    return Approval(member, guessed)


def unsubscribe_member(
    db: Database,
    config: InboundConfig,
    phone: str,
    now: float | None = None,
    actor: str = audit.SYSTEM,
    client: str | None = None,
) -> tuple[int, bool]:
    """The CCI records an opt-out it was told of (a possible opt-out confirmed, a call):
    as a STOP, every unsent SMS to the number is cancelled; a member who was receiving
    alerts gets the ``stop`` confirmation. Returns (SMS cancelled, confirmation queued)."""
    registry = Registry(db)
    number = normalize(phone)
    now = time.time() if now is None else now
    before = registry.get(number)
    with db.transaction() as conn:
        cancelled = registry.unsubscribe(conn, number, "cli", now)
        audit.record(
            conn, now, "member_unsubscribed", actor=actor, client=client, phone=number,
            detail={"cancelled": cancelled},
        )
        confirm = before is not None and before.status == "active"
        if confirm:
            _reply_later(conn, db, number, config.replies["stop"], now)
    log.info("%s unsubscribed by the CCI, %d unsent SMS cancelled", number, cancelled)
    return cancelled, confirm


def _reply_later(
    conn: sqlite3.Connection, db: Database, number: str, text: str, now: float
) -> None:
    """A reply queued from outside the daemon (the CLI): the daemon's dispatcher takes it
    within a second, before any alert. It leaves from the modem the number last had a
    reply from, when known (a reply leaves from the number that was texted)."""
    via = conn.execute(
        "SELECT d.modem FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.phone = ? AND a.kind = 'reply' AND d.modem IS NOT NULL "
        "ORDER BY d.id DESC LIMIT 1",
        (number,),
    ).fetchone()
    modem = via["modem"] if via else None
    Outbox(db).queue_message(conn, number, compose(text), "reply", now, modem=modem)


def _today(conn: sqlite3.Connection, sender: str, column: str, now: float) -> int:
    """How many of this sender's SMS got a reply (or were forwarded) in the last 24 h."""
    row = conn.execute(
        f"SELECT COUNT(*) FROM inbound WHERE phone = ? AND {column} > 0 AND at > ?",
        (sender, now - DAY),
    ).fetchone()
    return int(row[0])
