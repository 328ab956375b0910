"""The edge that runs tunnels for the engine (decisions in daemon/supervise.py).

`run` starts one tunnel and reports, through the queue, `TunnelStarted` once it is set up and
`TunnelExited` when it ends or could not start, with the reason (exit status or signal, and
its last line of output). WireGuard first asks the kernel for the device; where the kernel
has no WireGuard, `wireguard-go` runs instead. A kernel tunnel has no process: it ends when
its device vanishes (polled), and `stop` deletes its device. `stop` ends a process with
SIGTERM (SIGKILL after a grace period); `stop_all` ends them all when the daemon stops. Each
running tunnel is recorded in the state directory (daemon/leftovers.py), so one a killed
daemon left behind is ended at the next start.
"""

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable

from multiwan.core.tunnels import Implementation, TunnelSpec
from multiwan.daemon.events import DaemonEvent, TunnelExited, TunnelStarted
from multiwan.daemon.leftovers import Records
from multiwan.daemon.supervise import wireguard_implementation
from multiwan.kernel.errors import KernelError
from multiwan.kernel.tunnels import (
    configure_wireguard,
    create_kernel_wireguard,
    delete_device,
    device_exists,
    tunnel_argv,
    wireguard_ready,
)

log = logging.getLogger("multiwan")

READY_TIMEOUT = 10.0  # seconds for wireguard-go to create its device
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
DEVICE_POLL = 0.5  # seconds between looks at a kernel tunnel's device
TAIL = 2  # lines of a process's output kept for its exit reason


def exit_reason(returncode: int, tail: deque[str]) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-returncode} ({signal.Signals(-returncode).name})"
        return f"killed by signal {-returncode}"
    last = f": {'; '.join(list(tail)[-2:])}" if tail else ""  # the error, then maybe a hint
    return f"exited with status {returncode}{last}"


async def kernel_refusal(interface: str) -> OSError | None:
    """Ask the kernel for a WireGuard device: its refusal, or None when it made one."""
    try:
        await asyncio.to_thread(create_kernel_wireguard, interface)
    except OSError as exc:
        return exc
    return None


class TunnelProcesses:
    def __init__(self, enqueue: Callable[[DaemonEvent], None], records: Records) -> None:
        self.enqueue = enqueue
        self.records = records
        self.running: dict[str, asyncio.subprocess.Process] = {}
        self.devices: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}  # kernel: stop, done

    async def run(self, spec: TunnelSpec, attempt: int) -> None:
        """Start, set up, report, wait for the end, report."""
        implementation: Implementation = "openvpn"
        why = ""
        if spec.kind == "wireguard":
            refused = await kernel_refusal(spec.interface)
            chosen = wireguard_implementation(None if refused is None else refused.errno)
            if chosen == "kernel":
                return await self._run_kernel(spec, attempt)
            if chosen is None:
                self.enqueue(TunnelExited(spec.link, attempt, f"could not start: {refused}"))
                return None
            implementation = chosen
            why = f"no WireGuard in the kernel: {refused}"
        return await self._run_process(spec, attempt, implementation, why)

    async def _run_kernel(self, spec: TunnelSpec, attempt: int) -> None:
        """A kernel WireGuard device: configured, then watched until stopped (then deleted
        here, so `stop` returns once it is gone) or until it vanishes."""
        stop, done = asyncio.Event(), asyncio.Event()
        self.devices[spec.link] = (stop, done)
        self.records.device(spec.link, spec.interface)
        try:
            await configure_wireguard(spec)
        except (KernelError, OSError, ValueError) as exc:
            reason = f"setup failed: {exc}"
            stop.set()
        else:
            self.enqueue(TunnelStarted(spec.link, attempt, None, "kernel"))
            reason = await self._wait_device(spec.interface, stop)
        try:
            if stop.is_set():
                await delete_device(spec.interface)
        except KernelError as exc:
            log.error("tunnel %s: %s", spec.link, exc)
        finally:
            if self.devices.get(spec.link) == (stop, done):
                del self.devices[spec.link]
                self.records.forget(spec.link)
            done.set()
        self.enqueue(TunnelExited(spec.link, attempt, reason))

    @staticmethod
    async def _wait_device(interface: str, stop: asyncio.Event) -> str:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DEVICE_POLL)
                return "stopped: device deleted"
            if not device_exists(interface):
                return f"its device {interface} vanished"

    async def _run_process(
        self, spec: TunnelSpec, attempt: int, implementation: Implementation, why: str
    ) -> None:
        tail: deque[str] = deque(maxlen=TAIL)
        argv = tunnel_argv(spec)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        except OSError as exc:
            self.enqueue(TunnelExited(spec.link, attempt, f"could not start: {exc}"))
            return
        self.running[spec.link] = proc
        self.records.process(spec.link, proc.pid, argv)
        failure: str | None = None
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read(proc, tail, spec.link), name=f"tunnel-output:{spec.link}")
            try:
                if spec.kind == "wireguard":
                    await self._set_up_wireguard(spec, proc)
                self.enqueue(TunnelStarted(spec.link, attempt, proc.pid, implementation, why))
            except (KernelError, OSError, ValueError) as exc:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                failure = f"setup failed: {exc}"
            returncode = await proc.wait()
        if self.running.get(spec.link) is proc:
            del self.running[spec.link]
            self.records.forget(spec.link)
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
        if link in self.devices:
            stop, done = self.devices[link]
            stop.set()
            await done.wait()
            return
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
        await asyncio.gather(*(self.stop(link) for link in [*self.running, *self.devices]))
