"""A `multiwan run` inside the lab router, with its log followed line by line."""

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from multiwan.lab.topology import Lab


class LabDaemon:
    """Context manager: starts the daemon with `config`, stops it (SIGTERM) on exit.
    `wrapper` goes before the command (e.g. `env PATH=...` to hide a tool from it)."""

    def __init__(self, lab: Lab, config: str, wrapper: Sequence[str] = ()) -> None:
        self.lab = lab
        self.wrapper = tuple(wrapper)
        self.config_path = lab.state_dir / "multiwan.toml"
        self.config_path.write_text(config)
        self.lines: list[tuple[float, str]] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, ready: str = r"INFO running: ") -> "LabDaemon":
        """Start, and return once a log line matches `ready`."""
        self.proc = self.lab.start(
            self.lab.router, *self.wrapper, sys.executable, "-m", "multiwan", "--state-dir",
            str(self.lab.state_dir), "-c", str(self.config_path), "run",
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_log(ready, timeout=30)
        return self

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def log(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_log(self, pattern: str, timeout: float = 10.0, after: float = 0.0) -> float:
        """Wait for a log line matching `pattern` logged after `after`; its arrival time."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stamp, line in list(self.lines):
                if stamp >= after and regex.search(line):
                    return stamp
            if self.proc is not None and self.proc.poll() is not None and not self.lines:
                break
            time.sleep(0.01)
        raise TimeoutError(f"no log line matching {pattern!r}; log:\n{self.log()}")

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=10)

    def __enter__(self) -> "LabDaemon":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
