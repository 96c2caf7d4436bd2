"""SQLite: versioned schema files, PRAGMA user_version, all-or-nothing migrations, WAL.

Every state change is committed before the next side effect (``synchronous=FULL``), so a
``kill -9`` or a power cut at any moment leaves a state the daemon can resume from. One
connection is shared by the daemon's threads behind a lock; other processes (the CLI) open
their own, and WAL lets them read while the daemon writes.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

DB_NAME = "modemd.db"

Params = tuple[object, ...] | dict[str, object]


class StoreError(Exception):
    """The database cannot be used: corrupt, from a newer modemd, or unwritable."""


def _schema_files() -> dict[int, str]:
    found: dict[int, str] = {}
    for entry in resources.files("modemd.store").iterdir():
        match = re.fullmatch(r"schema_v(\d+)\.sql", entry.name)
        if match:
            found[int(match.group(1))] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._check_integrity()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"the database {path} is unusable: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    @property
    def version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_integrity(self) -> None:
        result = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise StoreError(
                f"the database {self.path} failed its integrity check ({result}); restore a "
                "backup or move it away to start afresh"
            )

    def _migrate(self) -> None:
        schemas = _schema_files()
        latest = max(schemas)
        current = self.version
        if current > latest:
            raise StoreError(
                f"the database {self.path} is schema version {current}, newer than this "
                f"modemd understands ({latest}): upgrade modemd"
            )
        for version, script in schemas.items():
            if version <= current:
                continue
            with self._lock:
                # executescript would COMMIT on its own; run statement by statement instead
                # so the whole migration and the version bump are one transaction.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(script):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {version}")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
        # One line, not one per step: what a person wants to know is what changed.
        if current == 0:
            log.info("database %s created (schema version %d)", self.path, latest)
        elif current < latest:
            log.info(
                "database %s upgraded from schema version %d to %d", self.path, current, latest
            )


def _statements(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()


def open_database(state_dir: Path) -> Database:
    return Database(state_dir / DB_NAME)
