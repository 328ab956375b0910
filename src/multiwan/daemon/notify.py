"""systemd's sd_notify protocol: a datagram to $NOTIFY_SOCKET (READY=1, WATCHDOG=1, STATUS=).

A few lines of stdlib instead of a dependency (FIELD-NOTES: `sdnotify` swallows errors and
ignores the watchdog interval).
"""

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send `message` to systemd; False when not run by systemd (no socket) or when the
    socket cannot be reached (logged: the daemon goes on, systemd's timeouts will tell)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", message, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd asked for (seconds), or None if it asked for none."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or os.environ.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
