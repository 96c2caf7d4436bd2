"""Alert files: parse, validate and compose, with errors a duty officer can act on.

A file is either YAML (``*.yaml``/``*.yml``, the keys of the documentation) or plain text
(``*.txt``, the message alone). Everything that can be wrong is found here, before anything is
stored: a YAML syntax error (with its line), an unknown key, a wrong type, an unknown category,
an empty target, a target that selects nobody, a message that needs more parts than allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modemd.config import AlertsConfig, parse_duration
from modemd.members.registry import Target
from modemd.pipeline.compose import CATEGORIES, AlertText, compose_alert
from modemd.sms.parts import Composition, Encoding
from modemd.textfiles import NotText, decode_text

KEYS = ("message", "category", "advice", "priority", "target", "expires_after", "id", "issued_by")
TARGET_KEYS = ("communes", "sectors")
PRIORITIES = {"urgent": 0, "normal": 1}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
ALERT_SUFFIXES = (".yaml", ".yml", ".txt")


class AlertFileError(ValueError):
    """Why a file was rejected, in words for the operator who dropped it."""


@dataclass(frozen=True)
class AlertRequest:
    message: str
    category: str
    advice: str
    priority: str
    target: Target
    expires_after: float  # seconds
    key: str | None  # idempotency key
    issued_by: str | None
    composition: Composition

    @property
    def priority_rank(self) -> int:
        return PRIORITIES[self.priority]


def read_text(data: bytes) -> str:
    try:
        return decode_text(data)
    except NotText as exc:
        raise AlertFileError(f"{exc}; save it as UTF-8") from exc


def parse_alert(name: str, data: bytes, config: AlertsConfig) -> AlertRequest:
    text = read_text(data)
    if Path(name).suffix.lower() == ".txt":
        return _build({"message": text}, config)
    try:
        fields = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise AlertFileError(f"YAML error{where}: {problem}") from None
    if not isinstance(fields, dict):
        raise AlertFileError(
            "the file must be YAML keys such as 'message: ...' (see the documentation)"
        )
    return _build(fields, config)


def _text(fields: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = fields.get(key)
    if value is None:
        if required:
            raise AlertFileError(f"'{key}' is required")
        return None
    if isinstance(value, bool | list | dict):
        raise AlertFileError(f"'{key}' must be a text, not {type(value).__name__}")
    return str(value).strip()


def _target(raw: object) -> Target:
    if raw is None:
        return Target()
    if not isinstance(raw, dict):
        raise AlertFileError("'target' must have 'communes' and/or 'sectors' lists")
    unknown = sorted(set(raw) - set(TARGET_KEYS))
    if unknown:
        raise AlertFileError(
            f"unknown key 'target.{unknown[0]}' (use target.communes and target.sectors)"
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in TARGET_KEYS:
        value = raw.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise AlertFileError(f"'target.{key}' must be a list of names")
        lists[key] = tuple(str(v).strip() for v in value if str(v).strip())
    target = Target(lists["communes"], lists["sectors"])
    if target.everyone:
        raise AlertFileError(
            "'target' is empty: list communes and/or sectors, or leave 'target' out to alert "
            "every member"
        )
    return target


def _build(fields: dict[str, Any], config: AlertsConfig) -> AlertRequest:
    unknown = sorted(str(k) for k in fields if k not in KEYS)
    if unknown:
        raise AlertFileError(f"unknown key '{unknown[0]}' (known keys: {', '.join(KEYS)})")
    message = _text(fields, "message", required=True) or ""
    if not message:
        raise AlertFileError("'message' is empty")
    category = _text(fields, "category") or "autre"
    if category not in CATEGORIES:
        raise AlertFileError(f"unknown category '{category}' (known: {', '.join(CATEGORIES)})")
    advice = _text(fields, "advice")
    priority = _text(fields, "priority") or config.default_priority
    if priority not in PRIORITIES:
        raise AlertFileError(f"'priority' must be urgent or normal, not '{priority}'")
    expires = _text(fields, "expires_after") or config.expires_after
    try:
        expires_after = parse_duration(expires)
    except ValueError as exc:
        raise AlertFileError(f"'expires_after': {exc}") from None
    if expires_after <= 0:
        raise AlertFileError("'expires_after' must be longer than zero")
    key = _text(fields, "id")
    if key is not None and not ID_PATTERN.match(key):
        raise AlertFileError(
            f"'id' {key!r} must be letters, digits, '.', '_', ':' or '-' (at most 64)"
        )
    target = _target(fields.get("target"))
    composition = compose_alert(AlertText(message, category, advice), config)
    if composition.part_count > config.max_parts:
        raise AlertFileError(_too_long(composition, config.max_parts))
    return AlertRequest(
        message=message,
        category=category,
        advice=config.default_advice if advice is None else advice,
        priority=priority,
        target=target,
        expires_after=expires_after,
        key=key,
        issued_by=_text(fields, "issued_by"),
        composition=composition,
    )


def _too_long(composition: Composition, max_parts: int) -> str:
    per_part = 153 if composition.encoding is Encoding.GSM7 else 67
    over = len(composition.text) - per_part * max_parts
    hint = f" (shorten it by about {over} characters)" if over > 0 else ""
    return (
        f"the SMS would need {composition.part_count} parts in "
        f"{composition.encoding.value.upper()} and max_parts is {max_parts}{hint}"
    )


def is_unfinished_name(name: str) -> bool:
    """Names that say "not finished yet" (dot files, *.tmp, *.part, *~): they wait in
    ``outgoing/`` until renamed."""
    return name.startswith(".") or name.endswith((".tmp", ".part", "~"))


def is_alert_name(name: str) -> bool:
    """Files the spool takes as alerts; unfinished names wait to be renamed."""
    return not is_unfinished_name(name) and name.lower().endswith(ALERT_SUFFIXES)
