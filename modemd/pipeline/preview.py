"""What ``alert send --check`` shows before anything is sent: the SMS as phones will show it,
its encoding and parts, who gets it, the time it takes under the SIM limits and which limit
sets that time, and the characters that cannot be sent as written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from modemd.config import LimitsConfig
from modemd.pipeline.alerts import AlertRequest
from modemd.pipeline.throttle import Throttle, pool_estimate
from modemd.sms.gsm7 import transliterate
from modemd.sms.parts import Encoding

# Below this share of the total, the modem's own pace is what the time is made of.
PACE_MARGIN = 1.25

# One sending SIM: its limits, its send history (from the send log), its speed (s a part).
Plan = tuple[LimitsConfig, list[tuple[float, str]], float]


@dataclasses.dataclass(frozen=True)
class Pace:
    seconds: float  # under every SIM limit
    modem_seconds: float  # at the modem's own pace, no limit
    window: str | None  # the limit that makes it longer than the modem's pace
    cap: int = 0


def pace(plans: list[Plan], now: float, recipients: int, parts: int) -> Pace:
    """The time for ``recipients`` messages of ``parts`` parts, and what sets it: each
    limit alone is tried, and the slowest one alone is the one that holds the queue back."""

    def estimate(limits_of: Callable[[LimitsConfig], LimitsConfig]) -> float:
        sims = [(Throttle(limits_of(lim), history), speed) for lim, history, speed in plans]
        return pool_estimate(sims, now, recipients, parts)

    seconds = estimate(lambda limits: limits)
    modem_seconds = estimate(lambda limits: LimitsConfig())
    if seconds <= modem_seconds * PACE_MARGIN:
        return Pace(seconds, modem_seconds, None)
    caps = {
        field.name: getattr(limits, field.name)
        for limits, _, _ in plans
        for field in dataclasses.fields(LimitsConfig)
        if getattr(limits, field.name)
    }

    def alone(name: str) -> float:
        return estimate(lambda limits: LimitsConfig(**{name: getattr(limits, name)}))

    slowest = max(caps, key=alone)
    return Pace(seconds, modem_seconds, slowest, caps[slowest])


def lost_characters(request: AlertRequest) -> list[str]:
    """What the SMS shows as "?" though the file had something else there (an emoji, a
    character GSM-7 has nothing close to)."""
    if request.composition.encoding is not Encoding.GSM7:
        return []
    lost: list[str] = []
    for ch in request.message + request.advice:
        if ch != "?" and ch not in lost and transliterate(ch) == "?":
            lost.append(ch)
    return lost


def check_report(
    request: AlertRequest, recipients: int, plans: list[Plan], now: float
) -> tuple[dict[str, Any], Pace]:
    comp = request.composition
    p = pace(plans, now, recipients, comp.part_count)
    return {
        "text": comp.text,
        "encoding": comp.encoding.value,
        "parts": comp.part_count,
        "characters": len(comp.text),
        "recipients": recipients,
        "target": request.target.describe(),
        "priority": request.priority,
        "estimated_seconds": round(p.seconds, 1),
        "modem_seconds": round(p.modem_seconds, 1),
        "held_back_by": p.window,
        "lost_characters": lost_characters(request),
        "sent": False,
    }, p
