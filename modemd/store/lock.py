"""One daemon per state folder: an exclusive lock on ``state_dir/modemd.lock`` for its life.

Two senders on one database would each count only their own parts against the SIM's windows
and could claim the same delivery, so a second ``modemd run`` must not start. The lock is an
``flock`` the kernel drops when the process ends, however it ends (``kill -9`` included), so a
stale file never blocks a restart; the file holds the PID to name in the refusal. The CLI uses
the same lock to tell whether a daemon is running at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

LOCK_NAME = "modemd.lock"
STATUS_FILE = "status.json"  # the daemon's live snapshot, beside the lock
# A CLI that is just looking (a shared lock, for a moment) must not turn a start away.
ACQUIRE_PATIENCE = 2.0


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None, state_dir: Path) -> None:
        who = f"PID {pid}" if pid else "PID unknown"
        super().__init__(
            f"another modemd ({who}) is already running on the state folder {state_dir}; "
            "stop it first (systemctl stop modemd)"
        )
        self.pid = pid


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning naming the daemon that has it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        deadline = time.monotonic() + ACQUIRE_PATIENCE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _pid_in(fd)
                if (pid and pid != os.getpid() and pid_alive(pid)) or time.monotonic() > deadline:
                    os.close(fd)
                    raise AlreadyRunning(pid, self.state_dir) from None
                time.sleep(0.05)  # a CLI's look lasts microseconds
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: removing it would let a new daemon lock a fresh file while an
        # older one still holds the unlinked inode.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def running_pid(state_dir: Path) -> int | None:
    """The PID of the daemon running on this state folder (0 if it cannot be read), or None
    when no daemon holds it."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return _pid_of_status(state_dir)  # not ours to open: the status file must do
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _pid_in(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text else None
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_of_status(state_dir: Path) -> int | None:
    try:
        pid = int(json.loads((state_dir / STATUS_FILE).read_text()).get("pid", 0))
    except (OSError, ValueError, AttributeError):
        return None
    return pid if pid > 0 and pid_alive(pid) else None
