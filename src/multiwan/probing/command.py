"""External command check: exit status 0 is healthy; killed (whole process group) when it
outlives the check's timeout.

A command is not bound to its link (it is a program of its own): it gets LINK, INTERFACE,
MARK and SOURCE (and SOURCE6) in its environment to bind itself, e.g. `ping -I "$INTERFACE"
-m "$MARK"`."""

import asyncio
import contextlib
import os
import signal
import time

from multiwan.probing.binding import LinkBinding
from multiwan.probing.result import ProbeResult, failure


def link_environment(binding: LinkBinding | None) -> dict[str, str]:
    """The daemon's environment plus what a command needs to leave by the link."""
    if binding is None:
        return dict(os.environ)
    return {
        **os.environ,
        "LINK": binding.link,
        "INTERFACE": binding.interface,
        "MARK": str(binding.mark),
        "SOURCE": binding.source4 or "",
        "SOURCE6": binding.source6 or "",
    }


async def run_command(
    argv: list[str], limit: float, binding: LinkBinding | None = None
) -> ProbeResult:
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=link_environment(binding),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return failure(f"cannot run {argv[0]}: {exc.strerror}")
    try:
        status = await asyncio.wait_for(proc.wait(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return failure(f"timeout after {limit:g}s")
    if status != 0:
        return failure(f"{os.path.basename(argv[0])} exited {status}")
    return ProbeResult(True, time.monotonic() - started)
