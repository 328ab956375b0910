"""Users' traffic for the passive failure signal: new TCP connections at a steady rate to
several far servers (and one that never answers), each start and outcome recorded.

Shared by tests/lab/test_passive.py and bench/passive.py."""

import sys
import threading
from dataclasses import dataclass
from types import TracebackType

from multiwan.lab.topology import Lab

#: Far servers behind every ISP (the lab's whoami servers listen on every address of the
#: internet host), so the users' connections go to several destinations as real users' do.
FAR = tuple(f"203.0.113.{host}" for host in range(11, 23))  # 12
DEAD = "203.0.113.30"  # a far server that never answers


def far_servers(lab: Lab) -> None:
    """Give the internet host the FAR addresses and DEAD, whose packets it drops."""
    for address in (*FAR, DEAD):
        lab.inet.run("ip", "addr", "add", f"{address}/32", "dev", "lo")
    lab.inet.run(
        "nft", "-f", "-",
        input="table inet dead {\n chain input { type filter hook input priority -10;"
        f" ip daddr {DEAD} drop; }}\n}}\n",
    )  # fmt: skip


def slow_handshakes(lab: Lab) -> None:
    """The internet host drops every connection's first SYN: each handshake takes TCP's
    first retransmission (1 s), as a slow but healthy path's would."""
    lab.inet.run(
        "nft", "-f", "-",
        input="table inet slow {\n set seen { type ipv4_addr . inet_service; flags dynamic,timeout;"
        " timeout 30s; }\n chain input { type filter hook input priority -20;\n"
        "  tcp flags & (syn | ack) == syn ip saddr . tcp sport @seen accept\n"
        "  tcp flags & (syn | ack) == syn add @seen { ip saddr . tcp sport } drop\n }\n}\n",
    )  # fmt: skip


@dataclass(frozen=True)
class Attempt:
    started: float  # monotonic, the same clock as the test's
    destination: str
    outcome: str  # the source the server saw, or FAIL:<why>

    @property
    def failed(self) -> bool:
        return self.outcome.startswith("FAIL")


class Users:
    """Context manager: `multiwan.lab.traffic steady` in the first client, a new connection
    every `interval` seconds to `destinations` in turn (each given up after `timeout` s)."""

    def __init__(
        self, lab: Lab, destinations: tuple[str, ...], interval: float, timeout: float = 1.0
    ) -> None:
        self.lab = lab
        self.argv = (
            "-m", "multiwan.lab.traffic", "steady", "--dst", ",".join(destinations),
            "--port", "80", "--interval", str(interval), "--timeout", str(timeout),
        )  # fmt: skip
        self.attempts: list[Attempt] = []

    def __enter__(self) -> "Users":
        self.proc = self.lab.start(self.lab.clients[0], sys.executable, *self.argv)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            started, destination, outcome = line.split()
            self.attempts.append(Attempt(float(started), destination, outcome))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def failed_after(self, since: float) -> list[Attempt]:
        return [a for a in list(self.attempts) if a.started >= since and a.failed]
