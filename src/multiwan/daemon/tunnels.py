"""The edge that runs tunnel processes for the engine (decisions in daemon/supervise.py).

`run` starts one process and reports, through the queue, `TunnelStarted` once the tunnel is
set up and `TunnelExited` when it ends or could not start, with the reason (exit status or
signal, and its last line of output). `stop` ends one with SIGTERM (SIGKILL after a grace
period); `stop_all` ends them all when the daemon stops, so a restarted daemon starts fresh
tunnels instead of meeting devices held by orphans.
"""

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable

from multiwan.core.tunnels import TunnelSpec
from multiwan.daemon.events import DaemonEvent, TunnelExited, TunnelStarted
from multiwan.kernel.errors import KernelError
from multiwan.kernel.tunnels import configure_wireguard, tunnel_argv, wireguard_ready

log = logging.getLogger("multiwan")

READY_TIMEOUT = 10.0  # seconds for wireguard-go to create its device
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
TAIL = 2  # lines of a process's output kept for its exit reason


def exit_reason(returncode: int, tail: deque[str]) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-returncode} ({signal.Signals(-returncode).name})"
        return f"killed by signal {-returncode}"
    last = f": {'; '.join(list(tail)[-2:])}" if tail else ""  # the error, then maybe a hint
    return f"exited with status {returncode}{last}"


class TunnelProcesses:
    def __init__(self, enqueue: Callable[[DaemonEvent], None]) -> None:
        self.enqueue = enqueue
        self.running: dict[str, asyncio.subprocess.Process] = {}

    async def run(self, spec: TunnelSpec, attempt: int) -> None:
        """Start, set up, report, wait for the end, report."""
        tail: deque[str] = deque(maxlen=TAIL)
        try:
            proc = await asyncio.create_subprocess_exec(
                *tunnel_argv(spec), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        except OSError as exc:
            self.enqueue(TunnelExited(spec.link, attempt, f"could not start: {exc}"))
            return
        self.running[spec.link] = proc
        failure: str | None = None
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read(proc, tail, spec.link), name=f"tunnel-output:{spec.link}")
            try:
                if spec.kind == "wireguard":
                    await self._set_up_wireguard(spec, proc)
                self.enqueue(TunnelStarted(spec.link, attempt, proc.pid))
            except (KernelError, OSError, ValueError) as exc:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                failure = f"setup failed: {exc}"
            returncode = await proc.wait()
        if self.running.get(spec.link) is proc:
            del self.running[spec.link]
        reason = failure or exit_reason(returncode, tail)
        self.enqueue(TunnelExited(spec.link, attempt, reason))

    @staticmethod
    async def _set_up_wireguard(spec: TunnelSpec, proc: asyncio.subprocess.Process) -> None:
        """Configure the device once wireguard-go listens; a control socket left by a
        killed predecessor exists before the new one does, so a refused `wg` is retried
        until the timeout while the process lives."""
        deadline = time.monotonic() + READY_TIMEOUT
        error = "wireguard-go created no control socket"
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise KernelError("wireguard-go exited before its device was set up")
            if wireguard_ready(spec.interface):
                try:
                    await configure_wireguard(spec)
                    return
                except KernelError as exc:
                    error = str(exc)
            await asyncio.sleep(0.02)
        raise KernelError(f"not set up within {READY_TIMEOUT:g} s: {error}")

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, tail: deque[str], link: str) -> None:
        """Keep the last lines of output (the exit reason) and log them at debug level."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line:
                tail.append(line)
                log.debug("tunnel %s: %s", link, line)

    async def stop(self, link: str) -> None:
        proc = self.running.get(link)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(link) for link in list(self.running)))
