"""A pool of channels (modems, SMPP links, files...) driven as one engine: one shared queue,
each SIM or contract within its own plan.

Every sending channel has its own dispatcher threads pulling from the shared outbox (as many
as the channel has lanes: a modem one, an SMPP link its window); the pool
decides which deliveries a channel may take. By its ``use``: primary channels share the
queue; an overflow channel joins an urgent alert (to its end) when the primary channels'
expected time exceeds ``routing.overflow_after``; a backup channel sends only while no
primary can.

A recipient already counted in one SIM's distinct-recipient window stays on that SIM while
it can take them (so capped plans reach more members), a half-sent long message stays on
the SIM that started it, and a reply leaves from the number that was texted. A channel that
is gone or has no network takes nothing; its work goes to the others, and it rejoins when
healthy.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modemd.channels import open_channel
from modemd.channels.base import Channel, InboundSms, Receipt
from modemd.config import Config, ConfigError, ModemConfig, parse_duration
from modemd.pipeline.dispatcher import Dispatcher
from modemd.pipeline.outbox import Job, Outbox
from modemd.pipeline.throttle import HISTORY, Throttle, pool_estimate

STICKY_WAIT = 60.0  # a recipient waits this long for "their" SIM before another takes them


ROUTING_RECHECK = 1.0  # seconds an overflow decision holds (it costs a query)


@dataclass
class Member:
    config: ModemConfig
    channel: Channel
    throttle: Throttle
    lanes: list[Dispatcher]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dispatcher(self) -> Dispatcher:
        """The first lane; every lane shares its ``state`` (what status shows)."""
        return self.lanes[0]

    @property
    def usable(self) -> bool:
        return self.channel.usable


class Pool:
    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        state_dir: Path,
        *,
        on_message: Callable[[InboundSms], None],
        on_receipt: Callable[[Receipt], None],
        on_state: Callable[[str, str, str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.overflow_after = parse_duration(config.routing.overflow_after)
        self._overflow: tuple[float, bool] = (-1.0, False)  # (decided at, overflow needed)
        self._overflowing: set[str] = set()  # urgent alerts the overflow channels joined
        self.members: dict[str, Member] = {}
        now = clock()
        single = len(config.pool()) == 1
        for index, mc in enumerate(config.pool()):
            try:
                channel = open_channel(
                    mc.name,
                    mc,
                    on_message=on_message,
                    on_receipt=on_receipt,
                    on_state=functools.partial(on_state, mc.name),
                    state_dir=state_dir,
                    reference_file="concat-ref" if single else f"concat-ref-{mc.name}",
                    reassembly_timeout=parse_duration(config.inbound.reassembly_timeout),
                )
            except ValueError as exc:  # an address its driver cannot use: the config's fault
                key = f"modems[{index}].port" if config.modems else "modem.port"
                raise ConfigError(f"{key}: {exc}") from None
            throttle = Throttle(config.limits_of(mc), outbox.send_history(mc.name, now - HISTORY))
            # A channel that carries several messages at once (an SMPP window) gets one
            # dispatcher per lane, sharing its throttle and its state; a modem has one lane.
            lanes = [
                Dispatcher(
                    outbox,
                    channel,
                    throttle,
                    name=mc.name,
                    clock=clock,
                    accept=functools.partial(self.accept, mc.name),
                )
                for _ in range(max(1, channel.lanes))
            ]
            for lane in lanes[1:]:
                lane.state, lane.progress = lanes[0].state, lanes[0].progress
            self.members[mc.name] = Member(mc, channel, throttle, lanes)

    @property
    def first(self) -> Member:
        return next(iter(self.members.values()))

    def start(self) -> None:
        for member in self.members.values():
            member.channel.start()
        for lane in self.lanes():
            lane.start()

    def lanes(self) -> list[Dispatcher]:
        return [lane for member in self.members.values() for lane in member.lanes]

    def stop(self, timeout: float = 8.0) -> None:
        """Every SIM finishes its part in flight, within one shared deadline."""
        deadline = time.monotonic() + timeout
        for lane in self.lanes():
            lane.request_stop()
        for lane in self.lanes():
            lane.stop(max(0.1, deadline - time.monotonic()))
        for member in self.members.values():
            member.channel.stop()

    def wake(self) -> None:
        for lane in self.lanes():
            lane.wake()

    def reconfigure(self, config: Config) -> None:
        for mc in config.pool():
            member = self.members.get(mc.name)
            if member is not None:
                member.throttle.reconfigure(config.limits_of(mc))
        self.wake()

    # ------------------------------------------------------------------ who takes what
    def accept(self, name: str, job: Job) -> bool:
        """May channel ``name`` take this delivery now?"""
        me = self.members[name]
        if me.config.role == "receive" and job.modem != name:
            return False  # a receive-only SIM answers those who texted it, nothing more
        if job.modem != name and not self._routed_here(me, job):
            return False  # an overflow or backup channel not needed now
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

    # ------------------------------------------------------------------------- routing
    def _primaries(self) -> list[Member]:
        return [
            m
            for m in self.members.values()
            if m.config.use == "primary" and m.config.role != "receive"
        ]

    def _routed_here(self, me: Member, job: Job) -> bool:
        """Whether the channel's ``use`` lets it take this delivery now (a reply pinned to
        it always goes)."""
        use = me.config.use
        if use == "primary":
            return True
        if use == "backup":
            return not any(m.usable for m in self._primaries())
        if job.priority > 0:
            return False  # normal alerts wait for the primary channels
        if job.alert_id in self._overflowing:
            return True
        if self.overflow_needed():
            # Joined for this alert, to its end: leaving once the rest would fit in
            # `overflow_after` would keep the last recipients waiting while the link idles.
            self._overflowing.add(job.alert_id)
            return True
        return False

    def overflow_needed(self) -> bool:
        """The urgent work queued would take the primary channels longer than
        ``routing.overflow_after`` (or no primary channel can send at all)."""
        now = time.monotonic()
        decided, needed = self._overflow
        if now - decided < ROUTING_RECHECK:
            return needed
        primaries = [m for m in self._primaries() if m.usable]
        if not primaries:
            needed = True
        else:
            unsent, parts = self.outbox.urgent_unsent()
            if not unsent:
                self._overflowing.clear()  # every urgent alert served: decide afresh
            sims = [(m.throttle, self._part_seconds(m)) for m in primaries]
            needed = unsent > 0 and pool_estimate(sims, self.clock(), unsent, parts) > (
                self.overflow_after
            )
        self._overflow = (now, needed)
        return needed

    @staticmethod
    def _part_seconds(member: Member, default: float = 2.5) -> float:
        """One part's time on this channel, its lanes sending side by side."""
        seconds = member.dispatcher.state.part_seconds or default
        return seconds / max(1, len(member.lanes))

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
            (m.throttle, self._part_seconds(m, default_part_seconds))
            for m in self.members.values()
            if m.config.role != "receive"
        ]
        return pool_estimate(sims, self.clock(), unsent, parts)
