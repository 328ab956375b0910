"""Network namespaces for tests, demos and benchmarks: create, run inside, always delete.

Every namespace name starts with a caller-chosen prefix (`mwt-` tests, `mwd-` demo, `mwb-`
bench) so a run can first remove the stale ones of its own prefix and never touch others.
"""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def unique_tag() -> str:
    """Short random tag that keeps concurrent runs' names apart (interface names <= 15)."""
    return uuid.uuid4().hex[:5]


def list_netns(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def kill_processes(name: str) -> None:
    """Kill whatever still runs inside namespace `name` (servers, daemons, clients)."""
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in out.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def delete_netns(name: str) -> None:
    kill_processes(name)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def cleanup_stale(prefix: str) -> list[str]:
    """Delete every namespace left behind with `prefix`; returns their names."""
    if not prefix or not prefix.endswith("-"):
        raise ValueError("a namespace prefix must be non-empty and end with '-'")
    stale = list_netns(prefix)
    for name in stale:
        delete_netns(name)
    return stale


class Netns:
    """One namespace we created; `run` executes commands inside it."""

    def __init__(self, name: str) -> None:
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` inside the namespace; on failure raise with its stderr in the message."""
        proc = subprocess.run(
            self.argv(*cmd), capture_output=True, text=True, timeout=timeout, input=input
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"in {self.name}: {' '.join(cmd)} exited {proc.returncode}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def popen(
        self, cmd: Sequence[str], stdout: int | None = None, stderr: int | None = None
    ) -> subprocess.Popen[str]:
        """Start a long-running process inside the namespace (killed by `delete`)."""
        return subprocess.Popen(self.argv(*cmd), text=True, stdout=stdout, stderr=stderr)

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")

    def delete(self) -> None:
        delete_netns(self.name)

    def wait_for(self, probe: Sequence[str], timeout: float = 10.0) -> None:
        """Wait until `probe` (a command run inside) succeeds, e.g. a port check."""
        deadline = time.monotonic() + timeout
        while True:
            if self.run(*probe, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"in {self.name}: {' '.join(probe)} never succeeded")
            time.sleep(0.05)
