"""The SIM's windows from the network's side: the SMS centre counts a part when it reaches
it, anywhere between the start of AT+CMGS and the answer, so no window of the plan may ever
hold more than its cap whatever those arrival times were."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.config import LimitsConfig
from modemd.pipeline.throttle import Throttle
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]
Span = tuple[float, float]  # (earliest, latest) moment the network may have counted a part

ONE_PART = "Vol à l'étalage en bande organisée, centre-ville."


def fullest_window(spans: list[Span], seconds: float) -> int:
    """The most parts any window [t, t + seconds) can hold, each part counted anywhere in
    its span; the fullest such window starts at some part's latest moment."""
    return max(sum(1 for b, e in spans if e >= end and b < end + seconds) for _, end in spans)


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(faults: Faults, **config: object) -> Harness:
        sim = make_sim("generic", faults, send_latency=0.01)
        h = Harness(tmp_path / f"h{len(made)}", sim, **config)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def test_a_slow_part_keeps_the_window_closed_until_60_s_after_its_answer(
    harness: Callable[..., Harness],
) -> None:
    # The first part takes 2 s to be answered, the second is quick: started right at the
    # minute's edge, a third part could share a minute with the first from the network's side.
    h = harness(Faults(send_latencies=[2.0]), limits=LimitsConfig(per_minute=2))
    h.members(3)
    h.start()
    h.drop("a.txt", ONE_PART)
    assert h.wait(lambda: len(h.sim.sent()) == 2)
    first = h.sim.sent()[0]
    assert first.at - first.submitted_at >= 2.0
    h.restart()  # the send log keeps each part's answer time, not its start
    assert h.daemon is not None
    dispatcher = h.daemon.dispatcher
    assert h.wait(lambda: dispatcher.state.blocked is not None)
    blocked = dispatcher.state.blocked
    assert blocked is not None and blocked.reopens_at is not None
    assert blocked.reopens_at >= first.at + 60, blocked.reopens_at - first.at
    # Jump to the announced reopening: the third part goes, and counted from the network's
    # side (in the daemon's clock) no minute holds more than two.
    offset = blocked.reopens_at - h.clock()
    h.clock.advance(offset)
    assert h.wait(lambda: len(h.sim.sent()) == 3)
    sent = h.sim.sent()
    spans = [(s.submitted_at, s.at) for s in sent[:2]]
    spans += [(s.submitted_at + offset, s.at + offset) for s in sent[2:]]
    assert fullest_window(spans, 60) == 2


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.integers(1, 8),
    parts=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_no_window_over_its_cap_wherever_in_a_send_the_network_counts(
    per_minute: int, parts: int, seed: int
) -> None:
    """The dispatcher's use of the throttle, with sends of 0.1 to 2 s: counted at start plus
    the send deadline while in flight, settled at the answer."""
    deadline = 70.0
    rng = random.Random(seed)
    throttle = Throttle(LimitsConfig(per_minute=per_minute))
    clock, spans = 0.0, []
    for n in range(30):
        recipient = f"+3360000{n:04d}"
        for sent in range(parts):
            verdict = throttle.check(clock, recipient, parts if sent == 0 else 1)
            while not verdict.allowed:
                assert verdict.reopens_at is not None and verdict.reopens_at > clock
                clock = verdict.reopens_at
                verdict = throttle.check(clock, recipient, parts if sent == 0 else 1)
            throttle.record(clock + deadline, recipient)
            answered = clock + rng.uniform(0.1, 2.0)
            throttle.settle(clock + deadline, answered, recipient)
            spans.append((clock, answered))
            clock = answered
    assert fullest_window(spans, 60) <= per_minute
