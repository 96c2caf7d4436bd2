"""systemd's notification protocol (sd_notify): READY, WATCHDOG and STATUS messages.

Written here rather than taken from a package: the protocol is one datagram on the socket
named by $NOTIFY_SOCKET (documented as stable in sd_notify(3)), the pure-Python `sdnotify`
package has not been updated since 2017, and python-systemd needs a C toolchain and
libsystemd headers on the Pi.
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send one notification; False when not run by systemd (or the socket is gone)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8", errors="replace"))
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between the pings systemd expects (half of WatchdogSec), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(0.5, int(usec) / 1e6 / 2)
    except ValueError:
        return None
