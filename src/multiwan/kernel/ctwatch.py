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
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from multiwan.core.passive import Handshake
from multiwan.kernel.errors import KernelError

#: How often answered handshakes are reported (and the watched links read again).
TICK = 0.05
#: Bytes read from the event stream at once (about 250 events).
CHUNK = 65536
#: Once the event stream is readable, how long more events may gather before it is read.
GATHER = 0.01
#: Handshakes remembered at most (a SYN flood must not grow the daemon without bound).
PENDING_MAX = 65536
#: A link's wait for an answer before it has answered any handshake: TCP's own first SYN
#: retransmission comes after 1 s, so a slower healthy link shows itself by then.
FIRST_WAIT = 3.0
#: A handshake that ended unanswered and is answered within this long was slow, not lost.
LATE_SECONDS = 30.0
EVENT = re.compile(
    rb"\[(NEW|UPDATE)\]\s+tcp\s+6\s+\d+\s+(\w+)\s+src=\S+\s+dst=(\S+)\s.*?\bmark=(\d+)\b.*?\bid=(\d+)"
)

#: What to watch: multiwan's mark mask, and the watched links' marks with their timeouts.
Watched = tuple[int, Mapping[int, float]]


@dataclass
class Pending:
    mark: int
    destination: str
    started: float


@dataclass(frozen=True)
class HandshakeTime:
    """A link's smoothed handshake time and its variation (RFC 6298's estimator, fed SYN ->
    answer times): a link whose answers come slower than its passive_timeout gets a longer
    wait, so a slow healthy link is never taken for a dead one."""

    smoothed: float
    variation: float

    def learn(self, sample: float) -> "HandshakeTime":
        variation = 0.75 * self.variation + 0.25 * abs(self.smoothed - sample)
        return HandshakeTime(0.875 * self.smoothed + 0.125 * sample, variation)

    @property
    def wait(self) -> float:
        return max(self.smoothed + 4 * self.variation, 2 * self.smoothed)


class Handshakes:
    """The connections in their handshake and those that ended it since the last `take`.

    A link's handshakes wait in one queue, oldest first, for the link's passive_timeout or,
    when its answers come slower, their measured time (HandshakeTime); so the overdue ones
    are at the queues' heads and finding them costs nothing while none is. An answer that
    comes after a handshake was reported unanswered is reported too: it was slow, not lost."""

    def __init__(self) -> None:
        self.pending: dict[int, Pending] = {}
        self.queues: dict[int, deque[int]] = {}  # by mark: ids, oldest first
        self.late: dict[int, Pending] = {}  # ended unanswered, oldest first
        self.times: dict[int, HandshakeTime] = {}  # by mark
        self.timeouts: Mapping[int, float] = {}
        self.ended: dict[int, list[Handshake]] = {}

    def wait(self, mark: int) -> float:
        """How long a handshake through the link with `mark` may take."""
        timeout = self.timeouts.get(mark, 0.0)
        measured = self.times.get(mark)
        return max(timeout, FIRST_WAIT if measured is None else measured.wait)

    def feed(self, line: bytes, now: float, watched: Watched) -> None:
        """One line of `conntrack -E` output, seen at `now`."""
        match = EVENT.search(line)
        if match is None:
            return
        kind, state, dst, mark_text, id_text = match.groups()
        ident = int(id_text)
        mask, self.timeouts = watched
        if kind == b"NEW":
            mark = int(mark_text) & mask
            if state == b"SYN_SENT" and mark in self.timeouts and len(self.pending) < PENDING_MAX:
                self.pending[ident] = Pending(mark, dst.decode(), now)
                self.queues.setdefault(mark, deque()).append(ident)
        elif state != b"SYN_SENT":
            entry = self.pending.pop(ident, None) or self.late.pop(ident, None)
            if entry is not None:
                self._answered(entry, now)

    def _answered(self, entry: Pending, now: float) -> None:
        sample = now - entry.started
        known = self.times.get(entry.mark)
        self.times[entry.mark] = (
            HandshakeTime(sample, sample / 2) if known is None else known.learn(sample)
        )
        shake = Handshake(entry.started, entry.destination, True)
        self.ended.setdefault(entry.mark, []).append(shake)

    def _head(self, mark: int, queue: deque[int]) -> Pending | None:
        """The oldest handshake of `queue` still pending (answered ones are dropped)."""
        while queue:
            if (entry := self.pending.get(queue[0])) is not None:
                return entry
            queue.popleft()
        return None

    def next_due(self) -> float:
        """When the oldest pending handshake is overdue (infinity: none pending)."""
        due = [
            head.started + self.wait(mark)
            for mark, queue in self.queues.items()
            if (head := self._head(mark, queue)) is not None
        ]
        return min(due, default=math.inf)

    def expire(self, now: float) -> bool:
        """Handshakes past their link's wait end unanswered; whether any did. They are
        remembered a while, in case the answer was only late."""
        expired = False
        for mark, queue in self.queues.items():
            wait = self.wait(mark)
            while (head := self._head(mark, queue)) is not None and head.started + wait <= now:
                ident = queue.popleft()
                del self.pending[ident]
                if mark in self.timeouts:  # a link no longer watched: forgotten
                    self.late[ident] = head
                    shake = Handshake(head.started, head.destination, False)
                    self.ended.setdefault(mark, []).append(shake)
                    expired = True
        for ident, entry in list(self.late.items()):
            if entry.started > now - LATE_SECONDS and len(self.late) <= PENDING_MAX:
                break
            del self.late[ident]
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
    TICK, the unanswered ones as soon as they are overdue.

    conntrack writes each event at once; read as they come, a busy router's thousands of
    events a second would each wake the daemon. So the stream is read in batches: once it
    is readable, GATHER later, everything that arrived (bench/passive.py measures it)."""
    events, write_end = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            "conntrack", "-E", "-e", "NEW,UPDATE", "-p", "tcp", "-o", "id",
            stdout=write_end, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        os.close(events)
        raise KernelError(f"cannot run conntrack (install conntrack): {exc}") from exc
    finally:
        os.close(write_end)
    os.set_blocking(events, False)
    loop, readable = asyncio.get_running_loop(), asyncio.Event()
    handshakes, current = Handshakes(), watched()
    tick = time.monotonic() + TICK
    partial = b""  # a line not yet ended
    try:
        while True:
            wake = min(tick, handshakes.next_due())
            loop.add_reader(events, readable.set)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake - time.monotonic())):
                    await readable.wait()
            loop.remove_reader(events)
            if readable.is_set():
                readable.clear()
                await asyncio.sleep(GATHER)
                chunk = _read_all(events)
                if chunk is None:
                    if ended := handshakes.take():  # what it said before it stopped
                        report(ended)
                    _, err = await proc.communicate()
                    text = err.decode(errors="replace").strip() or "no reason given"
                    raise KernelError(f"conntrack -E stopped: {text}")
                now = time.monotonic()
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    handshakes.feed(line, now, current)
            now = time.monotonic()
            # Unanswered handshakes are news (rare while links work): reported at once.
            if (handshakes.expire(now) or now >= tick) and (ended := handshakes.take()):
                report(ended)
            if now >= tick:
                current, tick = watched(), now + TICK
    finally:
        loop.remove_reader(events)
        os.close(events)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()


def _read_all(fd: int) -> bytes | None:
    """What the non-blocking `fd` holds now; None at its end (the writer exited)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks) if chunks else None
        chunks.append(chunk)
