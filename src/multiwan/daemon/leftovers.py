"""Tunnels a killed daemon left running, found by what it recorded and ended at the next start.

systemd ends a stopped service's whole cgroup, but a daemon killed outside it (SIGKILL, a
crash) leaves its tunnel processes (and kernel WireGuard devices) behind, holding the
devices the next daemon's tunnels need. So every tunnel started is recorded in the state
directory (`tunnels/LINK.json`: pid and command line, or the kernel device), the record
removed when it ends, and at start every record left over is acted on: a process is ended
only while `/proc/PID/cmdline` is still the command multiwan started (a pid reused by
another program is left alone; nothing is ever killed by name), a kernel device is deleted
only while it is still a WireGuard device.
"""

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from multiwan.kernel.errors import KernelError
from multiwan.kernel.journal import read_json_object, write_atomic
from multiwan.kernel.tunnels import delete_device, device_kind

log = logging.getLogger("multiwan")

TUNNELS_DIR = "tunnels"
GRACE = 5.0  # seconds between SIGTERM and SIGKILL


class Records:
    """The state directory's records of the tunnels this daemon runs."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory  # None: nothing recorded (tests of the edge alone)

    def process(self, link: str, pid: int, argv: list[str]) -> None:
        self._write(link, {"pid": pid, "cmdline": argv})

    def device(self, link: str, interface: str) -> None:
        self._write(link, {"device": interface})

    def forget(self, link: str) -> None:
        if self.directory is not None:
            (self.directory / f"{link}.json").unlink(missing_ok=True)

    def _write(self, link: str, record: dict[str, object]) -> None:
        """A record that cannot be written costs only the cleanup after a SIGKILL: logged."""
        if self.directory is None:
            return
        try:
            write_atomic(self.directory / f"{link}.json", json.dumps(record) + "\n")
        except OSError as exc:
            log.error("tunnel %s: cannot record it in %s: %s", link, self.directory, exc)

    async def end_leftovers(self) -> None:
        """End what an earlier daemon recorded and did not see end; forget the records."""
        if self.directory is None or not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            record = read_json_object(path, "tunnel record")
            pid, argv, device = record.get("pid"), record.get("cmdline"), record.get("device")
            if isinstance(pid, int) and isinstance(argv, list):
                await _end_process(path.stem, pid, [str(arg) for arg in argv])
            elif isinstance(device, str) and await asyncio.to_thread(device_kind, device) == (
                "wireguard"
            ):
                try:
                    await delete_device(device)
                except KernelError as exc:
                    log.error("tunnel %s: kernel device %s left by a previous run: %s",
                              path.stem, device, exc)  # fmt: skip
                else:
                    log.warning("tunnel %s: deleted kernel WireGuard device %s left by a "
                                "previous run", path.stem, device)  # fmt: skip
            path.unlink(missing_ok=True)


def cmdline(pid: int) -> list[str] | None:
    """The command line of live process `pid` (None: gone, a zombie, or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state == "Z" or not raw:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


async def _end_process(link: str, pid: int, argv: list[str]) -> None:
    if cmdline(pid) != argv:
        return  # ended, or the pid now belongs to another program
    log.warning("tunnel %s: ending %s (pid %d) left by a previous run", link, argv[0], pid)
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, GRACE)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if cmdline(pid) != argv:
                return
            await asyncio.sleep(0.05)
    log.error("tunnel %s: pid %d did not end", link, pid)
