"""An alert being written, checked as it is typed (the console's live preview, the API's
``/alerts/preview``): the exact SMS, its encoding, the room left in its last part, its parts,
who it reaches and how long it takes, or the problems of each field. Nothing is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modemd.config import Config
from modemd.members.registry import Registry, Target
from modemd.operations.alerts import alert_from_mapping, check_alert
from modemd.operations.errors import InvalidInput, Problem
from modemd.sms.parts import Composition, Encoding, _char_units, part_limits
from modemd.store.db import Database


def room_left(composition: Composition) -> int:
    """Characters (septets for GSM-7, where € or [ count two; UTF-16 units for UCS-2) still
    free in the last part before another part is needed."""
    single, multi = part_limits(composition.encoding)
    capacity = single if composition.part_count == 1 else multi
    last = composition.parts[-1] if composition.parts else ""
    return capacity - sum(_char_units(ch, composition.encoding) for ch in last)


def _reached(db: Database, target: object) -> int | None:
    if target is None:
        target = {}
    if not isinstance(target, Mapping):
        return None
    lists = {k: target.get(k) or [] for k in ("communes", "sectors")}
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists.values()):
        return None
    chosen = Target(tuple(lists["communes"]), tuple(lists["sectors"]))
    return len(Registry(db).targeted(chosen))


@dataclass(frozen=True)
class Preview:
    report: dict[str, Any] = field(default_factory=dict)  # what ``--check`` prints; {} if none
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report,
            "problems": [{"field": p.field, "message": p.message} for p in self.problems],
        }


def preview_alert(config: Config, db: Database, fields: Mapping[str, Any]) -> Preview:
    try:
        request = alert_from_mapping(fields, config)
    except InvalidInput as exc:
        # Nothing to compose yet (no message, say): who the target reaches is still news.
        reached = _reached(db, fields.get("target"))
        return Preview({} if reached is None else {"recipients": reached}, exc.problems)
    comp = request.composition
    shown = {
        "text": comp.text,
        "encoding": comp.encoding.value,
        "parts": comp.part_count,
        "room_left": room_left(comp),
        "unicode": comp.encoding is Encoding.UCS2,
    }
    try:
        checked = check_alert(config, db, request)
    except InvalidInput as exc:
        # The SMS is still worth showing: only the target is wrong.
        return Preview({**shown, "recipients": 0}, exc.problems)
    return Preview({**checked.report, **shown})
