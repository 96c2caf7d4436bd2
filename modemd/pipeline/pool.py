"""A pool of modems driven as one engine: one shared queue, each SIM within its own plan.

Every sending modem has its own dispatcher thread pulling from the shared outbox; the pool
decides which deliveries a modem may take. A recipient already counted in one SIM's
distinct-recipient window stays on that SIM while it can take them (so capped plans reach
more members), a half-sent long message stays on the SIM that started it, and a reply leaves
from the number that was texted. A modem that is gone or has no network takes nothing; its
work goes to the others, and it rejoins when healthy.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modemd.config import Config, ModemConfig, parse_duration
from modemd.modem.device import Modem
from modemd.modem.references import ReferenceCounter
from modemd.pipeline.dispatcher import Dispatcher
from modemd.pipeline.outbox import Job, Outbox
from modemd.pipeline.throttle import HISTORY, Throttle, pool_estimate
from modemd.sms.pdu import Deliver, StatusReport

STICKY_WAIT = 60.0  # a recipient waits this long for "their" SIM before another takes them


@dataclass
class Member:
    config: ModemConfig
    modem: Modem
    throttle: Throttle
    dispatcher: Dispatcher

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def usable(self) -> bool:
        status = self.modem.status
        return self.modem.ready and (status.registration is None or status.registered)


class Pool:
    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        state_dir: Path,
        *,
        on_sms: Callable[[str, Deliver], None],
        on_report: Callable[[str, StatusReport], None],
        on_state: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.members: dict[str, Member] = {}
        now = clock()
        single = len(config.pool()) == 1
        for mc in config.pool():
            modem = Modem(
                mc,
                reassembly_timeout=parse_duration(config.inbound.reassembly_timeout),
                on_sms=functools.partial(on_sms, mc.name),
                on_status_report=functools.partial(on_report, mc.name),
                on_state=functools.partial(on_state, mc.name),
                # One concatenation counter per SIM: phones join parts per sender number.
                references=ReferenceCounter(
                    state_dir / ("concat-ref" if single else f"concat-ref-{mc.name}")
                ),
                pin_guard=state_dir / f"pin-rejected-{mc.name}",
            )
            throttle = Throttle(config.limits_of(mc), outbox.send_history(mc.name, now - HISTORY))
            dispatcher = Dispatcher(
                outbox,
                modem,
                throttle,
                modem_name=mc.name,
                clock=clock,
                accept=functools.partial(self.accept, mc.name),
            )
            self.members[mc.name] = Member(mc, modem, throttle, dispatcher)

    @property
    def first(self) -> Member:
        return next(iter(self.members.values()))

    def start(self) -> None:
        for member in self.members.values():
            member.modem.start(wait=False)
        for member in self.members.values():
            member.dispatcher.start()

    def stop(self, timeout: float = 8.0) -> None:
        """Every SIM finishes its part in flight, within one shared deadline."""
        deadline = time.monotonic() + timeout
        for member in self.members.values():
            member.dispatcher.request_stop()
        for member in self.members.values():
            member.dispatcher.stop(max(0.1, deadline - time.monotonic()))
        for member in self.members.values():
            member.modem.stop()

    def wake(self) -> None:
        for member in self.members.values():
            member.dispatcher.wake()

    def reconfigure(self, config: Config) -> None:
        for mc in config.pool():
            member = self.members.get(mc.name)
            if member is not None:
                member.throttle.reconfigure(config.limits_of(mc))
        self.wake()

    # ------------------------------------------------------------------ who takes what
    def accept(self, name: str, job: Job) -> bool:
        """May modem ``name`` take this delivery now?"""
        me = self.members[name]
        if me.config.role == "receive" and job.modem != name:
            return False  # a receive-only SIM answers those who texted it, nothing more
        if job.modem is not None and job.modem != name and self._usable(job.modem):
            return False  # a reply leaves from the number that was texted
        if job.parts_sent:
            last = self.outbox.last_modem(job)
            if last is not None and last != name and self._usable(last):
                return False  # its first parts came from that SIM: the rest must too
        if len(self.members) > 1 and not me.throttle.knows(job.phone):
            for other in self.members.values():
                if (
                    other.name != name
                    and other.throttle.knows(job.phone)
                    and self._can_take(other, job)
                ):
                    return False  # already counted on that SIM's distinct recipients
        return True

    def _usable(self, name: str) -> bool:
        member = self.members.get(name)
        return member is not None and member.usable

    def _can_take(self, member: Member, job: Job) -> bool:
        if not member.usable or member.config.role == "receive":
            return False
        now = self.clock()
        verdict = member.throttle.check(now, job.phone, job.parts - job.parts_sent)
        return verdict.allowed or (verdict.reopens_at or now) - now <= STICKY_WAIT

    def eta(self, unsent: int, parts: int, default_part_seconds: float = 2.5) -> float:
        """Seconds to send ``unsent`` messages of ``parts`` parts across the pool's senders."""
        sims = [
            (m.throttle, m.dispatcher.state.part_seconds or default_part_seconds)
            for m in self.members.values()
            if m.config.role != "receive"
        ]
        return pool_estimate(sims, self.clock(), unsent, parts)
