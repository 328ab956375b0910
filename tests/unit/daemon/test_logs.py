"""Journal logging without root: priorities on the journal's stream, fields over the native
protocol (a datagram socket standing in for journald's), state changes with LINK/STATE/REASON."""

import io
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from multiwan.config.load import load_config_text
from multiwan.daemon.effects import Log
from multiwan.daemon.logs import JournalHandler, encode, fields, make_handler, priority
from tests.unit.daemon.test_playbooks import LINKS, Play, of


def _decode(data: bytes) -> dict[str, str]:
    """The native protocol's datagram back into fields (both encodings)."""
    entry: dict[str, str] = {}
    while data:
        line, data = data.split(b"\n", 1)
        if b"=" in line:
            name, value = line.split(b"=", 1)
            entry[name.decode()] = value.decode()
        else:
            (size,) = struct.unpack("<Q", data[:8])
            entry[line.decode()] = data[8 : 8 + size].decode()
            data = data[9 + size :]
    return entry


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "journal.sock"))
    sock.settimeout(2)
    yield sock
    sock.close()


def _journal_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> io.TextIOWrapper:
    """A stream that JOURNAL_STREAM names, as systemd connects stderr to the journal."""
    stream = (tmp_path / "stderr").open("w+")
    info = os.fstat(stream.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
    return stream


def test_priorities_follow_syslog() -> None:
    levels = [logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    assert [priority(level) for level in levels] == [2, 3, 4, 6, 7]


def test_binary_safe_encoding_of_multiline_values() -> None:
    data = encode({"MESSAGE": "a\nb", "LINK": "wan1"})
    assert data == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\nLINK=wan1\n"
    assert _decode(data) == {"MESSAGE": "a\nb", "LINK": "wan1"}


def test_the_journals_stream_gets_priority_prefixes_on_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _journal_stream(tmp_path, monkeypatch)
    handler = make_handler(stream, journal=tmp_path / "no-socket")
    logger = logging.getLogger("mwtest.stream")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("link wan1 down")
    logger.error("two\nlines")
    stream.seek(0)
    assert stream.read() == "<4>link wan1 down\n<3>two\n<3>lines\n"


def test_a_stream_that_is_not_the_journal_gets_plain_timestamped_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # inherited, but stderr was redirected
    stream = (tmp_path / "log").open("w+")
    logger = logging.getLogger("mwtest.plain")
    logger.addHandler(make_handler(stream, journal=tmp_path / "no-socket"))
    logger.propagate = False
    logger.warning("hello")
    stream.seek(0)
    assert stream.read().split(" ", 2)[2] == "WARNING hello\n"


def test_fields_go_over_the_native_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: socket.socket
) -> None:
    stream = _journal_stream(tmp_path, monkeypatch)
    handler = make_handler(stream, journal=tmp_path / "journal.sock")
    assert isinstance(handler, JournalHandler)
    logger = logging.getLogger("mwtest.native")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("wan1 down", extra={"journal_fields": {"LINK": "wan1"}})
    entry = _decode(journal.recv(65536))
    assert entry["MESSAGE"] == "wan1 down"
    assert (entry["PRIORITY"], entry["SYSLOG_IDENTIFIER"], entry["LINK"]) == (
        "4",
        "multiwan",
        "wan1",
    )
    journal.close()
    (tmp_path / "journal.sock").unlink()  # journald gone: the line still reaches the stream
    logger.error("still logged")
    handler.close()
    stream.seek(0)
    assert stream.read() == "<3>still logged\n"


def test_state_changes_carry_link_state_reason_and_warn_when_going_down() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.probe("isp1", ok=False, rounds=2)
    play.probe("isp1", ok=True, rounds=2)
    changes = [e for e in of(Log, play.effects) if e.text.startswith("link isp1: ")]
    assert [e.level for e in changes] == [logging.WARNING, logging.INFO]
    reason = "2 rounds failed: 192.0.2.53 failed"
    assert changes[0].fields == {
        "link": "isp1",
        "state": "down",
        "previous": "up",
        "reason": reason,
    }
    assert fields(**changes[0].fields) == {
        "journal_fields": {"LINK": "isp1", "STATE": "down", "PREVIOUS": "up", "REASON": reason}
    }
