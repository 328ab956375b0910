"""Daemon logging: plain timestamped lines on a terminal; under systemd, journald priorities
and structured fields, so `journalctl -p warning -u multiwan` shows the problems and
`journalctl -u multiwan LINK=wan1` one link's history.

No dependency: the journal's native protocol is a datagram of `NAME=value` lines to
/run/systemd/journal/socket (what sd_journal_send does; systemd.journal-fields(7)). When that
socket cannot be used, stderr (the journal's stream) carries each line's priority as a `<N>`
prefix (sd-daemon(3)), without fields.
"""

import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "multiwan"
#: States a link or backend should not be in: their changes are warnings, the rest info.
TROUBLE = frozenset({"down", "degraded", "absent"})


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (3 error, 4 warning, 6 info, 7 debug)."""
    for level, prio in ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4)):
        if levelno >= level:
            return prio
    return 6 if levelno >= logging.INFO else 7


def state_level(state: str) -> int:
    """Log level of a change into `state`: entering trouble warns, recovering informs."""
    return logging.WARNING if state in TROUBLE else logging.INFO


def fields(**values: object) -> dict[str, dict[str, str]]:
    """`extra=` for a log call that carries journal fields: `fields(link="wan1")` -> LINK=wan1."""
    return {"journal_fields": {name.upper(): str(value) for name, value in values.items()}}


def encode(entry: Mapping[str, str]) -> bytes:
    """One native-protocol datagram. A value with a newline goes as NAME, newline, its
    64-bit little-endian length, the bytes, newline (the protocol's binary-safe form)."""
    out = bytearray()
    for name, value in entry.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class PriorityFormatter(logging.Formatter):
    """Every line (a traceback's too) starts with `<priority>` for the journal's stream."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class JournalHandler(logging.Handler):
    """Sends records with their fields over the native protocol; a record the journal does
    not take (socket gone, message too large) goes to `fallback` instead of being lost."""

    def __init__(self, fallback: logging.Handler, path: Path = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.fallback = fallback
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        entry = {
            "MESSAGE": self.format(record),
            "PRIORITY": str(priority(record.levelno)),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
            **getattr(record, "journal_fields", {}),
        }
        try:
            self.sock.sendto(encode(entry), self.path)
        except OSError:
            self.fallback.handle(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def stream_is_journal(stream: TextIO) -> bool:
    """systemd sets JOURNAL_STREAM to the device:inode of the stream it connected; a unit
    that redirects stderr elsewhere keeps the variable, so compare (systemd.exec(5))."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return os.environ.get("JOURNAL_STREAM") == f"{info.st_dev}:{info.st_ino}"


def make_handler(stream: TextIO, journal: Path = JOURNAL_SOCKET) -> logging.Handler:
    """The handler for this process: the journal with fields when stderr is the journal and
    its socket is there, else the stream (priority-prefixed when it is the journal's)."""
    plain = logging.StreamHandler(stream)
    if not stream_is_journal(stream):
        plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        return plain
    plain.setFormatter(PriorityFormatter("%(message)s"))
    if not journal.is_socket():
        return plain
    handler = JournalHandler(plain, journal)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def setup(verbose: bool) -> None:
    """Configure the root logger for `multiwan run`."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[make_handler(sys.stderr)]
    )
