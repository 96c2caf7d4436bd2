"""What every command shares: its two kinds of error (exit 2 and exit 1), the database it
opens, and an operation's structured problems said as the one sentence they always were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modemd.config import Config
from modemd.operations.errors import InvalidInput
from modemd.store.db import Database, StoreError, open_database


class UsageError(Exception):
    """Bad input from the user: exit 2."""


class Failure(Exception):
    """Something else went wrong: exit 1."""


@contextmanager
def database(config: Config) -> Iterator[Database]:
    try:
        db = open_database(config.state_dir)
    except StoreError as exc:
        raise Failure(str(exc)) from exc
    try:
        yield db
    finally:
        db.close()


def usage(exc: InvalidInput, prefix: str = "") -> UsageError:
    """The problems as the CLI has always said them: one line, ``name: sentence``."""
    return UsageError("; ".join(f"{prefix}{p.message}" for p in exc.problems))
