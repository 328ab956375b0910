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


class ProgramFailed(Exception):
    """The program could not run, outlived its time limit, or exited non-zero."""


async def run_program(argv: list[str], limit: float, binding: LinkBinding | None) -> str:
    """Run `argv` with the link's environment, killed (whole process group) after `limit`
    seconds; its standard output. Also the capacity measurement's runner (daemon/capacity.py)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=link_environment(binding),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise ProgramFailed(f"cannot run {argv[0]}: {exc.strerror}") from None
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise ProgramFailed(f"timeout after {limit:g}s") from None
    if proc.returncode != 0:
        raise ProgramFailed(f"{os.path.basename(argv[0])} exited {proc.returncode}")
    return output.decode(errors="replace")


async def run_command(
    argv: list[str], limit: float, binding: LinkBinding | None = None
) -> ProbeResult:
    started = time.monotonic()
    try:
        await run_program(argv, limit, binding)
    except ProgramFailed as exc:
        return failure(str(exc))
    return ProbeResult(True, time.monotonic() - started)
