"""Structured validation errors: each problem names its field (and line, where there is one),
so a form or an API can put it beside the right input; ``str()`` is the plain sentence the
CLI prints and the spool writes in its ``.error`` files."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modemd.pipeline.alerts import AlertFileError


@dataclass(frozen=True)
class Problem:
    field: str | None  # the input it is about ('message', 'target.communes', 'phone'), if one
    message: str
    line: int | None = None


class InvalidInput(ValueError):
    """The input cannot be used as it is; nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


class NotFound(LookupError):
    """No such alert or member."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


_FIELD = re.compile(r"'([a-z_]+(?:\.[a-z_]+)?)'")
_LINE = re.compile(r"\bat line (\d+)")


def alert_problem(exc: AlertFileError) -> Problem:
    """The alert file's error as a problem, its sentence kept byte for byte."""
    text = str(exc)
    line = _LINE.search(text)
    field: str | None = None
    if text.startswith("unknown category"):
        field = "category"
    elif text.startswith("unknown key"):
        field = None  # the key that is not one: nothing on a form to attach it to
    elif text.startswith("the target") or text.startswith("there is no active member"):
        field = "target"
    elif text.startswith("the SMS would need"):
        field = "message"  # too long: the message is what to shorten
    elif not text.startswith("YAML error"):
        found = _FIELD.search(text)
        field = found.group(1) if found else None
    return Problem(field, text, int(line.group(1)) if line else None)
