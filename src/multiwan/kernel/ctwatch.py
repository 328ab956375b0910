"""Watch the users' new TCP connections through the links (conntrack events) and tell which
were answered and which were not within their link's passive_timeout (core/passive.py
judges what that means).

`conntrack -E -e NEW,UPDATE -p tcp` streams one line per state change of a TCP connection
(the kernel filters event types and the protocol): a NEW entry in SYN_SENT carries the
link's mark, and its first UPDATE out of SYN_SENT means the far end answered (SYN-ACK, or a
reset). Only connections in their handshake are remembered, so the cost follows the rate
of new connections, not the number of open ones.
"""

import asyncio
import contextlib
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping

from multiwan.core.passive import Handshake
from multiwan.kernel.errors import KernelError

#: How often answered handshakes are reported (and the watched links read again).
TICK = 0.05
#: Handshakes remembered at most (a SYN flood must not grow the daemon without bound).
PENDING_MAX = 65536
EVENT = re.compile(
    rb"\[(NEW|UPDATE)\]\s+tcp\s+6\s+\d+\s+(\w+)\s+src=\S+\s+dst=(\S+)\s.*?\bmark=(\d+)\b.*?\bid=(\d+)"
)

#: What to watch: multiwan's mark mask, and the watched links' marks with their timeouts.
Watched = tuple[int, Mapping[int, float]]


class Handshakes:
    """The connections in their handshake and those that ended it since the last `take`.

    Pending handshakes wait in one queue per timeout (links may differ), so the overdue
    ones are at the queues' heads: finding them costs nothing while none is."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[int, str, float, float]] = {}  # id: mark, dst, at, due
        self.queues: dict[float, deque[int]] = {}  # by timeout: ids, oldest first
        self.ended: dict[int, list[Handshake]] = {}

    def feed(self, line: bytes, now: float, watched: Watched) -> None:
        """One line of `conntrack -E` output, seen at `now`."""
        match = EVENT.search(line)
        if match is None:
            return
        kind, state, dst, mark_text, id_text = match.groups()
        ident = int(id_text)
        if kind == b"NEW":
            mask, timeouts = watched
            mark = int(mark_text) & mask
            timeout = timeouts.get(mark)
            if state == b"SYN_SENT" and timeout is not None and len(self.pending) < PENDING_MAX:
                self.pending[ident] = (mark, dst.decode(), now, now + timeout)
                self.queues.setdefault(timeout, deque()).append(ident)
        elif state != b"SYN_SENT" and (entry := self.pending.pop(ident, None)) is not None:
            mark, destination, started, _ = entry
            self.ended.setdefault(mark, []).append(Handshake(started, destination, True))

    def _head(self, queue: deque[int]) -> tuple[int, str, float, float] | None:
        """The oldest handshake of `queue` still pending (answered ones are dropped)."""
        while queue:
            if (entry := self.pending.get(queue[0])) is not None:
                return entry
            queue.popleft()
        return None

    def next_due(self) -> float:
        """When the oldest pending handshake is overdue (infinity: none pending)."""
        heads = (self._head(queue) for queue in self.queues.values())
        return min((head[3] for head in heads if head is not None), default=math.inf)

    def expire(self, now: float) -> bool:
        """Handshakes past their link's timeout end unanswered; whether any did."""
        expired = False
        for queue in self.queues.values():
            while (head := self._head(queue)) is not None and head[3] <= now:
                del self.pending[queue.popleft()]
                mark, destination, started, _ = head
                self.ended.setdefault(mark, []).append(Handshake(started, destination, False))
                expired = True
        return expired

    def take(self) -> dict[int, tuple[Handshake, ...]]:
        ended = {mark: tuple(shakes) for mark, shakes in self.ended.items()}
        self.ended = {}
        return ended


async def watch_handshakes(
    watched: Callable[[], Watched],
    report: Callable[[dict[int, tuple[Handshake, ...]]], None],
) -> None:
    """Forever: report the handshakes that ended, by link mark: the answered ones every
    TICK, the unanswered ones as soon as they are overdue."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "conntrack", "-E", "-e", "NEW,UPDATE", "-p", "tcp", "-o", "id",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        raise KernelError(f"cannot run conntrack (install conntrack): {exc}") from exc
    assert proc.stdout is not None
    handshakes, current = Handshakes(), watched()
    tick = time.monotonic() + TICK
    try:
        while True:
            line: bytes | None = None
            wake = min(tick, handshakes.next_due())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - time.monotonic())):
                    line = await proc.stdout.readline()
            if line == b"":
                _, err = await proc.communicate()
                text = err.decode(errors="replace").strip() or "no reason given"
                raise KernelError(f"conntrack -E stopped: {text}")
            now = time.monotonic()
            if line:
                handshakes.feed(line, now, current)
            # Unanswered handshakes are news (rare while links work): reported at once.
            if (handshakes.expire(now) or now >= tick) and (ended := handshakes.take()):
                report(ended)
            if now >= tick:
                current, tick = watched(), now + TICK
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
