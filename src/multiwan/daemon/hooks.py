"""Run the operator's hook executables on every link state change.

Hooks run as root, so only trusted ones run: the hook and its directory must be owned by
root and writable by nobody else (others are refused, logged). They get a minimal
environment: LINK, STATE, PREVIOUS, INTERFACE, GATEWAY and a fixed PATH. One link's hooks
run one at a time, in event order (a hook never sees "down" after "up" when the link went
down then up), each in name order (like run-parts) with a timeout that kills its whole
process group. The first OUTPUT_LIMIT bytes of their output are logged when they fail; the
rest is read and dropped. A hook never stops the daemon.
"""

import asyncio
import contextlib
import logging
import os
import signal
import stat
import weakref
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 4096  # bytes of a hook's output kept for the log
HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Per event loop (the daemon's), one lock per link: its hooks run in event order.
_serial: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class HookEvent:
    link: str
    state: str
    previous: str
    interface: str
    gateway: str

    def environment(self) -> dict[str, str]:
        return {
            "LINK": self.link,
            "STATE": self.state,
            "PREVIOUS": self.previous,
            "INTERFACE": self.interface,
            "GATEWAY": self.gateway,
            "PATH": HOOK_PATH,
        }


def untrusted(path: Path) -> str | None:
    """Why root must not run what is at `path`, or None when it may."""
    info = path.stat()
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by root"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def hook_programs(directory: Path) -> list[Path]:
    """Trusted executable regular files in `directory`, in name order (like run-parts)."""
    if not directory.is_dir():
        return []
    if problem := untrusted(directory):
        log.error("hooks in %s not run: the directory is %s", directory, problem)
        return []
    programs = []
    for path in sorted(directory.iterdir()):
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        if problem := untrusted(path):
            log.error("hook %s not run: it is %s", path, problem)
            continue
        programs.append(path)
    return programs


class _Output:
    """Reads a pipe as data arrives, keeping the first OUTPUT_LIMIT bytes. Not asyncio's
    subprocess pipes: a child the hook left behind holding them would block `wait()`."""

    def __init__(self, fd: int) -> None:
        self.fd, self.kept = fd, bytearray()
        os.set_blocking(fd, False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(fd, self._read)

    def _read(self) -> bool:
        """Read what is there; False at end of file or when nothing is left for now."""
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        if not chunk:
            self.loop.remove_reader(self.fd)
            return False
        self.kept += chunk[: max(OUTPUT_LIMIT - len(self.kept), 0)]
        return True

    def close(self) -> str:
        """Stop reading (after one last read of what is buffered); the text kept."""
        self.loop.remove_reader(self.fd)
        for _ in range(64):  # a pipe holds at most 64 KiB x 64 by default
            if not self._read():
                break
        os.close(self.fd)
        return self.kept.decode(errors="replace").strip()


async def run_hook(program: Path, event: HookEvent, limit: float) -> bool:
    """Run one hook; True on exit status 0. Logs the reason of any failure."""
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(program),
            env=event.environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,  # its own process group, killed whole on timeout
        )
    except OSError as exc:
        os.close(read_fd)
        log.warning("hook %s could not start: %s", program.name, exc)
        return False
    finally:
        os.close(write_fd)
    output = _Output(read_fd)
    try:
        await asyncio.wait_for(proc.wait(), limit)
    except TimeoutError:
        # The group, not just the hook: a child left holding its output would keep it alive.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        output.close()
        log.warning("hook %s killed after %.1fs (link %s -> %s)",
                    program.name, limit, event.link, event.state)  # fmt: skip
        return False
    text = output.close()
    if proc.returncode != 0:
        log.warning("hook %s exited %d (link %s -> %s): %s", program.name, proc.returncode,
                    event.link, event.state, text.replace("\n", " | "))  # fmt: skip
        return False
    if text:
        log.debug("hook %s (link %s -> %s): %s", program.name, event.link, event.state, text)
    return True


async def run_hooks(directory: Path, event: HookEvent, limit: float) -> None:
    """Run every hook of `directory` for `event`, after those of the link's earlier events."""
    programs = hook_programs(directory)
    if not programs:
        return
    locks = _serial.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(event.link, asyncio.Lock()):
        for program in programs:
            await run_hook(program, event, limit)
