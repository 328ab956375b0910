"""The handshake watcher's bookkeeping, fed lines as `conntrack -E -o id` prints them."""

import asyncio
import os
from pathlib import Path

import pytest

from multiwan.core.passive import Handshake
from multiwan.kernel.ctwatch import FIRST_WAIT, LATE_SECONDS, Handshakes, watch_handshakes
from multiwan.kernel.errors import KernelError

NEW = (
    b"    [NEW] tcp      6 120 SYN_SENT src=10.10.0.2 dst=203.0.113.10 sport={port} dport=80 "
    b"[UNREPLIED] src=203.0.113.10 dst=100.64.1.2 sport=80 dport={port} mark={mark} id={id}\n"
)
UPDATE = (
    b" [UPDATE] tcp      6 60 {state} src=10.10.0.2 dst=203.0.113.10 sport={port} dport=80 "
    b"src=203.0.113.10 dst=100.64.1.2 sport=80 dport={port} mark={mark} id={id}\n"
)
WATCHED = (0xFF00, {0x100: 0.5})  # mask, and link isp1's mark with its passive_timeout


def line(template: bytes, ident: int, mark: int = 0x100, state: bytes = b"SYN_RECV") -> bytes:
    return (
        template.replace(b"{port}", str(40000 + ident).encode())
        .replace(b"{mark}", str(mark).encode())
        .replace(b"{id}", str(ident).encode())
        .replace(b"{state}", state)
    )


def test_answered_and_overdue_handshakes_are_reported_by_mark() -> None:
    shakes = Handshakes()
    shakes.feed(line(NEW, 1), 10.0, WATCHED)
    shakes.feed(line(NEW, 2, mark=0x10100), 10.1, WATCHED)  # bits outside the mask ignored
    shakes.feed(line(UPDATE, 1), 10.2, WATCHED)
    shakes.feed(line(UPDATE, 1, state=b"ESTABLISHED"), 10.2, WATCHED)  # once is enough
    shakes.expire(10.5)
    assert shakes.take() == {0x100: (Handshake(10.0, "203.0.113.10", True),)}
    shakes.expire(10.7)
    assert shakes.take() == {0x100: (Handshake(10.1, "203.0.113.10", False),)}
    assert shakes.take() == {}
    assert not shakes.pending


def test_unwatched_links_unmarked_connections_and_other_lines_are_ignored() -> None:
    shakes = Handshakes()
    shakes.feed(line(NEW, 1, mark=0x200), 1.0, WATCHED)  # a link without `passive`
    shakes.feed(line(NEW, 2, mark=0), 1.0, WATCHED)  # not through multiwan's links
    shakes.feed(b"conntrack v1.4.7 (conntrack-tools): 2 flow events have been shown.\n", 1, WATCHED)
    shakes.feed(line(UPDATE, 3), 1.0, WATCHED)  # a handshake it never saw begin
    shakes.expire(100.0)
    assert shakes.take() == {}


def test_a_reset_answers_too() -> None:
    shakes = Handshakes()
    shakes.feed(line(NEW, 1), 1.0, WATCHED)
    shakes.feed(line(UPDATE, 1, state=b"CLOSE"), 1.1, WATCHED)
    assert shakes.take() == {0x100: (Handshake(1.0, "203.0.113.10", True),)}


def test_links_with_different_timeouts_each_expire_on_time() -> None:
    shakes = Handshakes()
    watched = (0xFF00, {0x100: 2.0, 0x200: 0.5})
    assert shakes.next_due() == float("inf")
    for ident, mark in ((8, 0x100), (9, 0x200)):  # each link answered one at once before
        shakes.feed(line(NEW, ident, mark=mark), 0.0, watched)
        shakes.feed(line(UPDATE, ident, mark=mark), 0.0, watched)
    shakes.take()
    shakes.feed(line(NEW, 1, mark=0x100), 1.0, watched)
    shakes.feed(line(NEW, 2, mark=0x200), 1.1, watched)
    shakes.feed(line(NEW, 3, mark=0x200), 1.2, watched)
    shakes.feed(line(UPDATE, 2, mark=0x200), 1.1, watched)  # answered: no longer due
    assert shakes.next_due() == 1.7
    assert not shakes.expire(1.6)
    assert shakes.expire(1.7)
    assert shakes.take() == {
        0x200: (Handshake(1.1, "203.0.113.10", True), Handshake(1.2, "203.0.113.10", False))
    }
    assert shakes.next_due() == 3.0
    assert shakes.expire(3.0)
    assert shakes.take() == {0x100: (Handshake(1.0, "203.0.113.10", False),)}


def test_a_link_that_never_answered_waits_for_tcps_own_retransmission_first() -> None:
    """Before its first answer a link's speed is unknown: a slow healthy link must not look
    dead at start, so the first handshakes wait FIRST_WAIT (3 s), not passive_timeout."""
    shakes = Handshakes()
    shakes.feed(line(NEW, 1), 0.0, WATCHED)
    assert shakes.next_due() == FIRST_WAIT
    assert not shakes.expire(2.9)


def test_a_slow_link_teaches_a_longer_wait_and_its_late_answers_count() -> None:
    """Answers after 1.2 s on a link with passive_timeout 0.5: the one that ended unanswered
    is reported answered when its answer comes, and the next handshakes wait longer."""
    shakes = Handshakes()
    shakes.feed(line(NEW, 1), 0.0, WATCHED)
    shakes.feed(line(UPDATE, 1), 0.01, WATCHED)  # a fast first answer: the wait is 0.5 s
    shakes.feed(line(NEW, 2), 1.0, WATCHED)
    shakes.take()
    assert shakes.expire(1.5)
    assert shakes.take() == {0x100: (Handshake(1.0, "203.0.113.10", False),)}
    shakes.feed(line(UPDATE, 2), 2.2, WATCHED)  # late: slow, not lost
    assert shakes.take() == {0x100: (Handshake(1.0, "203.0.113.10", True),)}
    for ident in range(3, 8):  # the link keeps answering after 1.2 s
        shakes.feed(line(NEW, ident), 10.0 * ident, WATCHED)
        assert not shakes.expire(10.0 * ident + 1.19)
        shakes.feed(line(UPDATE, ident), 10.0 * ident + 1.2, WATCHED)
    assert all(shake.answered for shake in shakes.take()[0x100])
    assert shakes.wait(0x100) >= 2 * 1.0


def test_late_answers_are_remembered_for_a_while_only() -> None:
    shakes = Handshakes()
    shakes.feed(line(NEW, 1), 0.0, WATCHED)
    shakes.expire(FIRST_WAIT)
    shakes.expire(FIRST_WAIT + LATE_SECONDS + 1)
    shakes.take()
    shakes.feed(line(UPDATE, 1), FIRST_WAIT + LATE_SECONDS + 2, WATCHED)
    assert shakes.take() == {}
    assert not shakes.late


def test_the_stream_is_read_in_batches_and_its_end_is_an_error_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in `conntrack` prints one answered handshake in two writes (a line split
    between them), then exits with a message: the watcher reports the handshake and raises
    the message."""
    fake = tmp_path / "conntrack"
    first, second = line(NEW, 1), line(UPDATE, 1)
    fake.write_text(
        "#!/bin/sh\n"
        f"printf '%s' '{(first + second[:20]).decode()}'\n"
        "sleep 0.05\n"
        f"printf '%s' '{second[20:].decode()}'\n"
        "echo 'conntrack v1.4.7: Operation not permitted' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    reports: list[dict[int, tuple[Handshake, ...]]] = []
    watched = (0xFF00, {0x100: 0.5})
    with pytest.raises(KernelError, match=r"conntrack -E stopped: conntrack v1\.4\.7: Operation"):
        asyncio.run(asyncio.wait_for(watch_handshakes(lambda: watched, reports.append), 5))
    assert [list(r) for r in reports] == [[0x100]]
    assert reports[0][0x100][0].answered
