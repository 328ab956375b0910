"""External command check: exit status 0 is healthy; killed (whole process group) when it
outlives the check's timeout."""

import asyncio
import contextlib
import os
import signal
import time

from multiwan.probing.result import ProbeResult, failure


async def run_command(argv: list[str], limit: float) -> ProbeResult:
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
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
