"""The handshake watcher's bookkeeping, fed lines as `conntrack -E -o id` prints them."""

from multiwan.core.passive import Handshake
from multiwan.kernel.ctwatch import Handshakes

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
    shakes.feed(line(NEW, 1, mark=0x100), 1.0, watched)
    shakes.feed(line(NEW, 2, mark=0x200), 1.1, watched)
    shakes.feed(line(NEW, 3, mark=0x200), 1.2, watched)
    shakes.feed(line(UPDATE, 2, mark=0x200), 1.3, watched)  # answered: no longer due
    assert shakes.next_due() == 1.7
    assert not shakes.expire(1.6)
    assert shakes.expire(1.7)
    assert shakes.take() == {
        0x200: (Handshake(1.1, "203.0.113.10", True), Handshake(1.2, "203.0.113.10", False))
    }
    assert shakes.next_due() == 3.0
    assert shakes.expire(3.0)
    assert shakes.take() == {0x100: (Handshake(1.0, "203.0.113.10", False),)}
