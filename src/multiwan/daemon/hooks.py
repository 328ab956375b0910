"""Run the operator's hook executables on every link state change.

Hooks get LINK, STATE, PREVIOUS, INTERFACE and GATEWAY in their environment, run
concurrently with a timeout, and their failure is logged: a hook never stops the daemon.
"""

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookEvent:
    link: str
    state: str
    previous: str
    interface: str
    gateway: str


def hook_programs(directory: Path) -> list[Path]:
    """Executable regular files in `directory`, in name order (like run-parts)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and os.access(p, os.X_OK))


async def run_hook(program: Path, event: HookEvent, limit: float) -> bool:
    """Run one hook; True on exit status 0. Logs the reason of any failure."""
    env = {
        **os.environ,
        "LINK": event.link,
        "STATE": event.state,
        "PREVIOUS": event.previous,
        "INTERFACE": event.interface,
        "GATEWAY": event.gateway,
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            str(program),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole on timeout
        )
    except OSError as exc:
        log.warning("hook %s could not start: %s", program.name, exc)
        return False
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        # The group, not just the hook: a child left holding its output would keep it alive.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        log.warning(
            "hook %s killed after %.1fs (link %s -> %s)",
            program.name,
            limit,
            event.link,
            event.state,
        )
        return False
    if proc.returncode != 0:
        tail = output.decode(errors="replace").strip().splitlines()[-1:] or [""]
        log.warning(
            "hook %s exited %d (link %s -> %s): %s",
            program.name,
            proc.returncode,
            event.link,
            event.state,
            tail[0],
        )
        return False
    return True


async def run_hooks(directory: Path, event: HookEvent, limit: float) -> None:
    """Run every hook of `directory` for `event`, concurrently."""
    programs = hook_programs(directory)
    if programs:
        await asyncio.gather(*(run_hook(p, event, limit) for p in programs))
