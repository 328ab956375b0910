"""One long-lived TCP connection through the lab, watched line by line.

Proves that something (a re-apply, a failover, a daemon restart) did not disturb an
established connection: it must neither break nor change the source the server sees.
"""

import subprocess
import sys
import threading
import time
from types import TracebackType

from multiwan.lab.netns import Netns
from multiwan.lab.topology import HOLD_PORT, SERVER_IP


class LongFlow:
    """Context manager: `with LongFlow(client) as flow: ...; flow.sources()`."""

    def __init__(self, client: Netns, dst: str = SERVER_IP, interval: float = 0.05) -> None:
        self._argv = [
            sys.executable, "-m", "multiwan.lab.traffic", "hold", "--dst", dst,
            "--port", str(HOLD_PORT), "--interval", str(interval),
        ]  # fmt: skip
        self._client = client
        self._lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "LongFlow":
        self._proc = self._client.popen(self._argv, stdout=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_replies(3)
        return self

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.append(line.strip())

    def wait_replies(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` more echoes arrived (or the flow broke)."""
        target = len(self.replies()) + count
        deadline = time.monotonic() + timeout
        while len(self.replies()) < target and not self.broken():
            if time.monotonic() > deadline:
                raise TimeoutError(f"long flow stalled: {self._lines[-3:]}")
            time.sleep(0.02)

    def replies(self) -> list[tuple[float, str]]:
        """(time, source seen by the server) of every echo so far."""
        out = []
        for line in list(self._lines):
            if not line.startswith("BROKEN"):
                stamp, source = line.split()
                out.append((float(stamp), source))
        return out

    def sources(self) -> set[str]:
        return {source for _, source in self.replies()}

    def broken(self) -> bool:
        return any(line.startswith("BROKEN") for line in list(self._lines))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
