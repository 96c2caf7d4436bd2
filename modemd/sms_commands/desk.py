"""The SMS desk: the commands of registered senders, carried out through the operations and
answered on the phone that is registered (never the one an SMS claims to come from, if
another). A number that is not registered gets nothing from here: its SMS is ordinary
inbound, and nothing tells it the feature exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from modemd.config import Config
from modemd.inbound.handler import CommandTaken
from modemd.operations import sms_requests
from modemd.operations.errors import InvalidInput, NotFound
from modemd.operations.queries import Progress, progress
from modemd.operations.senders import Sender, get_sender
from modemd.sms_commands.grammar import (
    ABANDON,
    ALERT,
    CANCEL,
    CONFIRM,
    STATE,
    Command,
    mask,
    read_command,
)
from modemd.store.db import Database

log = logging.getLogger(__name__)

STATES = {"active": "en cours", "done": "terminée", "cancelled": "annulée", "expired": "expirée"}


class SmsDesk:
    def __init__(
        self, config: Config, db: Database, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock

    def handle(self, number: str, text: str, via: str | None) -> CommandTaken | None:
        """Carry out a registered sender's command; None when the number is not registered
        or the text is not a command (the inbound handler then treats it as usual)."""
        command = read_command(text)
        if command is None:
            return None
        sender = get_sender(self.db, number)
        if sender is None:
            return None
        now = self.clock()
        if sender.locked_at(now):
            until = (
                "par un administrateur"
                if sender.locked
                else f"jusqu'à {_clock(sender.locked_until or now)}"
            )
            answer = f"Alerte Commerces: numéro bloqué {until}. Rien n'a été fait."
            return self._taken(command, sender, answer, via, now, "refused: sender locked")
        try:
            answer, note = self._carry_out(command, sender, now)
        except sms_requests.Refused as refused:
            answer, note = f"Refusé: {refused.reason}.", f"refused: {refused.reason}"
            if refused.locked:
                answer += " Numéro bloqué 1 h, les opérateurs sont prévenus."
                sms_requests.tell_operators(
                    self.config,
                    self.db,
                    f"modemd: l'expéditeur {sender.name} ({sender.phone}) est bloqué 1 h "
                    "après 3 PIN ou codes erronés en une heure.",
                    now,
                )
                log.warning("sender %s (%s) locked for an hour", sender.name, sender.phone)
        except InvalidInput as exc:
            answer, note = f"Refusé: {exc}.", "refused: invalid alert"
        except NotFound as exc:
            answer, note = f"Refusé: {exc.what}.", "refused: not found"
        return self._taken(command, sender, answer, via, now, note)

    @staticmethod
    def mask(text: str) -> str:
        return mask(text)

    def report_finished(self) -> int:
        """Tell each sender whose SMS alert has ended how it went; the daemon calls this at
        each tick. Returns how many were told."""
        now = self.clock()
        told = 0
        for number, p in sms_requests.finished_alerts(self.db, now):
            text = f"Alerte {p.alert_id} {STATES.get(p.state, p.state)}: {_counts(p)}."
            told += sms_requests.answer(self.config, self.db, number, text, None, now)
        return told

    # ------------------------------------------------------------------------------------
    def _carry_out(self, command: Command, sender: Sender, now: float) -> tuple[str, str]:
        """The answer to send and a line for the log (never a PIN or a code)."""
        if command.kind == ALERT:
            sms_requests.check_pin(self.db, sender, command.secret, now)
            preview = sms_requests.request_alert(
                self.config, self.db, sender, self._fields(command, sender), now
            )
            check = preview.check
            minutes = self.config.sms_commands.confirm_minutes
            text = (
                f"{check.request.composition.text}\n--\n{check.recipients} commerces, "
                f"{check.request.composition.part_count} SMS. Répondez OUI {preview.code} "
                f"pour envoyer, NON pour abandonner ({minutes} min)."
            )
            if preview.replaced:
                text += " (remplace la demande précédente)"
            return text, f"preview for {check.recipients} recipients"
        if command.kind == CONFIRM:
            done = sms_requests.confirm(self.config, self.db, sender, command.secret, now)
            if done.again:
                return (
                    f"Alerte {done.alert_id} déjà confirmée, rien de plus n'est fait.",
                    "confirmation repeated: already carried out",
                )
            if done.submitted is not None:
                s = done.submitted
                return (
                    f"Alerte {s.alert_id} en cours: {s.recipients} destinataires.",
                    f"alert {s.alert_id} sent to {s.recipients}",
                )
            assert done.cancelled is not None
            c = done.cancelled
            return (
                f"Alerte {c.alert_id} annulée: {c.cancelled} SMS non envoyés retirés.",
                f"alert {c.alert_id} cancelled",
            )
        if command.kind == ABANDON:
            if sms_requests.abandon(self.db, sender, now):
                return "Alerte abandonnée, rien n'a été envoyé.", "abandoned"
            return "Aucune alerte en attente.", "nothing to abandon"
        if command.kind == CANCEL:
            if not command.argument:
                raise sms_requests.Refused("précisez l'alerte: ANNULER <numéro d'alerte>")
            asked = sms_requests.request_cancel(self.config, self.db, sender, command.argument, now)
            p = asked.progress
            minutes = self.config.sms_commands.confirm_minutes
            return (
                f"Annuler l'alerte {p.alert_id} ({p.unsent} SMS non envoyés) ? Répondez OUI "
                f"{asked.code} pour annuler ({minutes} min).",
                f"cancel of {p.alert_id} asked",
            )
        assert command.kind == STATE
        alert_id = command.argument or sms_requests.last_alert(self.db, sender)
        found = progress(self.db, alert_id=alert_id, limit=1) if alert_id else []
        if not found:
            raise sms_requests.Refused("aucune alerte de ce numéro" if not alert_id else
                                   f"alerte {alert_id} inconnue")  # fmt: skip
        p = found[0]
        return f"Alerte {p.alert_id} {STATES.get(p.state, p.state)}: {_counts(p)}.", "state"

    def _fields(self, command: Command, sender: Sender) -> dict[str, Any]:
        fields: dict[str, Any] = {"message": command.message, "issued_by": sender.name}
        target: dict[str, list[str]] = {}
        if command.communes:
            target["communes"] = list(command.communes)
        if command.sectors:
            target["sectors"] = list(command.sectors)
        if target:
            fields["target"] = target
        category = command.category
        if category is None and len(sender.scope.categories) == 1:
            category = sender.scope.categories[0]  # the one category this desk may use
        if category is not None:
            fields["category"] = category
        return fields

    def _taken(
        self, command: Command, sender: Sender, answer: str, via: str | None, now: float,
        note: str,
    ) -> CommandTaken:  # fmt: skip
        answered = bool(answer) and sms_requests.answer(
            self.config, self.db, sender.phone, answer, via, now
        )
        log.info("SMS command %s from %s (%s): %s", command.kind.upper(), sender.name,
                 sender.phone, note)  # fmt: skip
        return CommandTaken(command.kind, command.masked, answered)


def _counts(p: Progress) -> str:
    text = f"{p.sent}/{p.total} envoyés"
    if p.delivered:
        text += f", {p.delivered} remis"
    if p.failed:
        text += f", {p.failed} échecs"
    if p.cancelled:
        text += f", {p.cancelled} annulés"
    return text


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M")
