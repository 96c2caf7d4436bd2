"""Sliding windows: never exceeded, reopen times exact, history survives a restart."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.config import LimitsConfig
from modemd.pipeline.throttle import DAY, Throttle


def drive(
    throttle: Throttle,
    sends: int,
    recipients: list[str],
    parts: int,
    part_seconds: float,
    start: float = 0.0,
) -> list[tuple[float, str]]:
    """Send as fast as the throttle allows; return every (time, recipient) part."""
    clock, log = start, []
    for n in range(sends):
        recipient = recipients[n % len(recipients)]
        for sent in range(parts):
            # Like the dispatcher: the whole message is asked for, then each further part.
            verdict = throttle.check(clock, recipient, parts if sent == 0 else 1)
            while not verdict.allowed:
                assert verdict.reopens_at is not None and verdict.reopens_at > clock
                clock = verdict.reopens_at
                verdict = throttle.check(clock, recipient, parts if sent == 0 else 1)
            throttle.record(clock, recipient)
            log.append((clock, recipient))
            clock += part_seconds
    return log


def max_in_window(log: list[tuple[float, str]], seconds: float) -> int:
    times = [t for t, _ in log]
    # `u + seconds > t`: the same sum the throttle uses, so float rounding cannot differ.
    return max(sum(1 for u in times if u <= t < u + seconds) for t in times)


def test_per_minute_cap_never_exceeded_and_fully_used() -> None:
    throttle = Throttle(LimitsConfig(per_minute=6))
    log = drive(throttle, 60, ["+33600000001"], 1, 0.3)
    assert max_in_window(log, 60) == 6
    # 60 parts at 6 a minute: 9 full minutes after the first burst, not more.
    assert log[-1][0] <= 9 * 60 + 6 * 0.3


def test_reopen_time_is_exact() -> None:
    throttle = Throttle(LimitsConfig(per_minute=2))
    throttle.record(10.0, "a")
    throttle.record(20.0, "b")
    verdict = throttle.check(30.0, "c")
    assert not verdict.allowed and verdict.window == "per_minute"
    assert verdict.reopens_at == 70.0
    assert throttle.check(70.0, "c").allowed


def test_parts_of_one_message_are_asked_together() -> None:
    throttle = Throttle(LimitsConfig(per_minute=4))
    throttle.record(0.0, "a")
    throttle.record(0.0, "a")
    assert throttle.check(1.0, "b", parts=2).allowed
    assert not throttle.check(1.0, "b", parts=3).allowed


def test_message_bigger_than_a_window_still_goes_part_by_part() -> None:
    throttle = Throttle(LimitsConfig(per_minute=2))
    log = drive(throttle, 1, ["a"], 3, 0.1)
    assert len(log) == 3 and max_in_window(log, 60) == 2


def test_distinct_recipients_per_day() -> None:
    throttle = Throttle(LimitsConfig(distinct_recipients_per_day=3))
    for i, who in enumerate(["a", "b", "c"]):
        throttle.record(float(i), who)
    assert throttle.check(10.0, "a").allowed  # already counted today
    verdict = throttle.check(10.0, "d")
    assert not verdict.allowed and verdict.window == "distinct_recipients_per_day"
    assert verdict.reopens_at == 0.0 + DAY


def test_restart_keeps_windows_closed() -> None:
    first = Throttle(LimitsConfig(per_hour=10))
    log = drive(first, 10, ["a", "b"], 1, 1.0, start=1000.0)
    restarted = Throttle(LimitsConfig(per_hour=10), history=log)
    verdict = restarted.check(1030.0, "c")
    assert not verdict.allowed and verdict.reopens_at == 1000.0 + 3600


def test_forget_a_refused_part() -> None:
    throttle = Throttle(LimitsConfig(per_minute=1))
    throttle.record(5.0, "a")
    assert not throttle.check(6.0, "b").allowed
    throttle.forget(5.0, "a")
    assert throttle.check(6.0, "b").allowed


def test_reconfigure_keeps_history() -> None:
    throttle = Throttle(LimitsConfig(per_minute=10))
    for i in range(5):
        throttle.record(float(i), "a")
    throttle.reconfigure(LimitsConfig(per_minute=3))
    assert not throttle.check(6.0, "b").allowed


def test_estimate_matches_a_dry_run() -> None:
    throttle = Throttle(LimitsConfig(per_minute=6))
    # 3 two-part messages a minute; a message waits until both its parts fit, so each cycle
    # lasts 64 s (the window reopens 60 s after the answer to the second oldest part, 4 s
    # into the cycle): 9 cycles, then 12 s.
    assert throttle.estimate(0.0, 30, 2, 2.0) == 9 * 64 + 12


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.integers(1, 8),
    per_hour=st.integers(0, 40),
    distinct=st.integers(0, 6),
    parts=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_no_window_ever_over_its_cap(
    per_minute: int, per_hour: int, distinct: int, parts: int, seed: int
) -> None:
    limits = LimitsConfig(
        per_minute=per_minute, per_hour=per_hour, distinct_recipients_per_day=distinct
    )
    rng = random.Random(seed)
    recipients = [f"+336000000{rng.randrange(10):02d}" for _ in range(40)]
    log = drive(Throttle(limits), 40, recipients, parts, rng.choice([0.3, 2.0]))
    assert max_in_window(log, 60) <= per_minute
    if per_hour:
        assert max_in_window(log, 3600) <= per_hour
    if distinct:
        for t, _ in log:
            assert len({r for u, r in log if u <= t < u + DAY}) <= distinct
