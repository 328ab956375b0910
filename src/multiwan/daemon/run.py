"""`multiwan run`: apply the config, then keep the kernel matching link health until
stopped. One TaskGroup, one event queue, one consumer (the Engine) that owns all state.

Stopping leaves the kernel as it is: a restart reconciles with what it finds, so flows on
healthy links are never disturbed. SIGHUP reloads the config (an invalid one is rejected
and the running one kept).
"""

import asyncio
import contextlib
import ctypes
import gc
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from multiwan.config.health import HealthCheck
from multiwan.config.load import load_config
from multiwan.core.linkstate import ProbeRound
from multiwan.daemon.control import serve_control
from multiwan.daemon.engine import Engine
from multiwan.daemon.events import DaemonEvent, ProbeDone, Reload
from multiwan.daemon.metrics import serve_metrics
from multiwan.daemon.notify import notify, watchdog_interval
from multiwan.daemon.probes import link_binding, probe_loop
from multiwan.daemon.rates import sample_rates
from multiwan.daemon.report import link_views
from multiwan.daemon.worker import KernelWorker
from multiwan.kernel.events import kernel_events

log = logging.getLogger("multiwan")


class Daemon:
    def __init__(self, config_path: Path, state_dir: Path) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self.queue: asyncio.Queue[DaemonEvent] = asyncio.Queue()
        self.stopping = asyncio.Event()
        self.probes: list[asyncio.Task[None]] = []
        self.background: set[asyncio.Task[object]] = set()

    async def run(self) -> None:
        config = load_config(self.config_path)
        worker = KernelWorker(self.state_dir)
        try:
            async with asyncio.TaskGroup() as group:
                self.group = group
                engine = Engine(
                    config, worker, self.state_dir,
                    lambda: load_config(self.config_path), self.spawn,
                )  # fmt: skip
                await engine.start()
                release_startup_memory()
                self._start_probes(engine)
                self.spawn(self._watch_kernel(), name="netlink")
                daemon = config.daemon
                self.spawn(serve_control(self.state_dir, daemon.status_group, self.queue),
                           name="control")  # fmt: skip
                self.spawn(sample_rates(engine.interfaces, engine.rates), name="rates")
                if daemon.metrics_listen:
                    serve_metrics(daemon.metrics_listen, engine)
                self.spawn(self._publish(engine), name="publish")
                if (every := watchdog_interval()) is not None:
                    self.spawn(self._watchdog(every), name="watchdog")
                self._signals()
                notify("READY=1")
                log.info("running: %d links; %s", len(config.links), self._summary(engine))
                await self._consume(engine)
                for task in [*self.probes, *self.background]:
                    task.cancel()
        finally:
            worker.close()
        log.info("stopped; kernel state left in place")

    def spawn(self, coro: object, name: str) -> asyncio.Task[object]:
        task: asyncio.Task[object] = self.group.create_task(coro, name=name)  # type: ignore[arg-type]
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    @staticmethod
    def _summary(engine: Engine) -> str:
        return ", ".join(f"{v.name} {v.state}" for v in link_views(engine))

    def _start_probes(self, engine: Engine) -> None:
        """A probe loop per checked link and per service backend (again after a reload)."""
        for task in self.probes:
            task.cancel()
        self.probes = []
        for name, link in engine.config.links.items():
            check = engine.config.health_of(name)
            if check is not None:
                loop = self._link_loop(engine, name, check, link.interface)
                self.probes.append(self.group.create_task(loop, name=f"probe:{name}"))
        for (service, key), check in engine.backend_checks().items():
            loop = self._backend_loop(engine, service, key, check)
            self.probes.append(self.group.create_task(loop, name=f"probe:{service}/{key}"))

    def _link_loop(
        self, engine: Engine, name: str, check: HealthCheck, interface: str
    ) -> Coroutine[Any, Any, None]:
        generation = engine.generation

        def report(result: ProbeRound) -> None:
            self.queue.put_nowait(ProbeDone(name, result, generation))

        return probe_loop(
            check, report, lambda: engine.health.get(name), lambda: link_binding(engine, name),
            interface,
        )  # fmt: skip

    def _backend_loop(
        self, engine: Engine, service: str, key: str, check: HealthCheck
    ) -> Coroutine[Any, Any, None]:
        generation = engine.generation

        def report(result: ProbeRound) -> None:
            self.queue.put_nowait(ProbeDone(key, result, generation, service))

        return probe_loop(check, report, lambda: engine.backends.get((service, key)))

    async def _consume(self, engine: Engine) -> None:
        stop = asyncio.ensure_future(self.stopping.wait())
        while not self.stopping.is_set():
            get = asyncio.ensure_future(self.queue.get())
            await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break
            generation = engine.generation
            await engine.handle(get.result())
            if engine.generation != generation:
                self._start_probes(engine)
        stop.cancel()

    async def _watch_kernel(self) -> None:
        async for event in kernel_events():
            self.queue.put_nowait(event)

    async def _publish(self, engine: Engine) -> None:
        while True:
            await engine.publish()
            await asyncio.sleep(1.0)

    async def _watchdog(self, every: float) -> None:
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(every)

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.queue.put_nowait, Reload())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)


def release_startup_memory() -> None:
    """Give the heap that the first reconcile used (netlink dumps) back to the system: a
    router's daemon should not keep ~10 MB it only needed once."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_daemon(config_path: Path, state_dir: Path) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Daemon(config_path, state_dir).run())
