"""`multiwan run`: apply the config, then keep the kernel matching link health until
stopped. One TaskGroup, one event queue, one consumer: the Engine decides (engine.py), the
Executor carries its decisions out (executor.py).

Supervised by construction: every background task is started through `spawn` (one-shot:
a failure is logged once and counted) or `keep` (long-lived loops: also restarted with
backoff), and a failing event is logged and counted by the consumer. No single failure (a
probe, a hook, a control session, a flush, a state write, a reconcile) stops the daemon;
`status` shows the counts under "daemon".

Stopping leaves the kernel as it is: a restart reconciles with what it finds, so flows on
healthy links are never disturbed. SIGHUP reloads the config (an invalid one is rejected
and the running one kept).
"""

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiwan.config.health import HealthCheck
from multiwan.config.load import load_config
from multiwan.core.linkstate import ProbeRound
from multiwan.core.nft import TABLE
from multiwan.core.passive import Handshake
from multiwan.daemon.control import serve_control
from multiwan.daemon.engine import Engine
from multiwan.daemon.events import (
    ConnectionsCounted,
    CountersRead,
    DaemonEvent,
    HandshakesSeen,
    ProbeDone,
    RatesSampled,
    Reload,
    Start,
)
from multiwan.daemon.executor import Executor
from multiwan.daemon.metrics import serve_metrics
from multiwan.daemon.notify import notify, watchdog_interval
from multiwan.daemon.persist import (
    MODE_FILE,
    SEATS_FILE,
    STATES_FILE,
    WEIGHTS_FILE,
    StateDirError,
    claim_state_dir,
    load_modes,
    load_seats,
    load_states,
    load_weights,
)
from multiwan.daemon.probes import link_binding, probe_loop
from multiwan.daemon.rates import sample_rates
from multiwan.daemon.report import link_views
from multiwan.daemon.worker import KernelWorker
from multiwan.kernel.conntrack import connections_by_mark
from multiwan.kernel.ctwatch import watch_handshakes
from multiwan.kernel.errors import KernelError
from multiwan.kernel.events import kernel_events

log = logging.getLogger("multiwan")

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0  # seconds before restarting a failed loop
CONNTRACK_WAIT = 1.0  # a status reply waits this long for fresh connection counts
CONNTRACK_TIMEOUT = 20.0  # a conntrack dump that takes longer is killed
FILE_LIMIT = 65536  # descriptors the daemon asks for at start
SUBSCRIBE_TIMEOUT = 5.0  # waiting for the netlink subscription before the first reconcile


@dataclass(frozen=True)
class Heartbeat:
    """Sent to the queue for the systemd watchdog: pinging only when the consumer takes it
    off the queue means a wedged engine is not pinged for (and systemd restarts it)."""


class Daemon:
    def __init__(self, config_path: Path, state_dir: Path) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self.queue: asyncio.Queue[DaemonEvent | Heartbeat] = asyncio.Queue()
        self.stopping = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.probes: list[asyncio.Task[object]] = []
        self.background: set[asyncio.Task[object]] = set()
        self.errors: dict[str, int] = {}  # by what failed (task kind), shown in status
        self.ready = False
        self.reload_queued = False
        self.told: str | None = None  # the last reason for not being ready sent to systemd
        self.counting: asyncio.Task[object] | None = None
        self.conntrack_error: str | None = None
        self.wakeups: dict[str, asyncio.Event] = {}  # per link: start a probe round now
        self.watcher: asyncio.Task[object] | None = None  # users' handshakes (passive)

    async def run(self) -> None:
        config = load_config(self.config_path)
        worker = KernelWorker(self.state_dir)
        try:
            async with asyncio.TaskGroup() as group:
                self.group = group
                engine = Engine(config)
                self.executor = Executor(
                    engine, worker, self.state_dir, lambda: load_config(self.config_path),
                    self.spawn, self.queue.put_nowait, lambda: self._start_probes(engine),
                    self.failed, self.probe_now,
                )  # fmt: skip
                # Subscribe before the first reconcile: an interface deleted right after
                # it must not go unseen. The watcher's first event is a Resync.
                self.keep(self._watch_kernel, name="netlink")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.subscribed.wait(), SUBSCRIBE_TIMEOUT)
                previous = load_states(self.state_dir / STATES_FILE)
                modes = load_modes(self.state_dir / MODE_FILE)
                seats = load_seats(self.state_dir / SEATS_FILE)
                weights = load_weights(self.state_dir / WEIGHTS_FILE)
                await self.executor.tunnels.records.end_leftovers()  # of a killed daemon
                await self.executor.run(Start(previous, modes, seats, weights))
                release_startup_memory()
                self._start_probes(engine)
                daemon = config.daemon
                self.keep(lambda: serve_control(
                    self.state_dir, daemon.status_group, self.queue.put_nowait,
                    lambda: self.daemon_status(engine), lambda: self.count_connections(engine),
                ), name="control")  # fmt: skip
                self.keep(lambda: sample_rates(
                    engine.interfaces, lambda rates: self.queue.put_nowait(RatesSampled(rates)),
                ), name="rates")  # fmt: skip
                if daemon.metrics_listen:
                    listen = daemon.metrics_listen
                    self.keep(lambda: self._metrics(listen, engine, lambda: self.errors),
                              name="metrics")  # fmt: skip
                self.keep(lambda: self._publish(worker), name="publish")
                if (every := watchdog_interval()) is not None:
                    self.keep(lambda: self._watchdog(every), name="watchdog")
                self._signals()
                self._check_ready(engine)
                log.info("running: %d links; %s", len(config.links), self._summary(engine))
                await self._consume(engine)
                await self.executor.tunnels.stop_all()  # children: they end with the daemon
                for task in [*self.probes, *self.background]:
                    task.cancel()
        finally:
            worker.close()
        log.info("stopped; kernel state left in place")

    # --- supervision ---------------------------------------------------------------------
    def failed(self, what: str, exc: BaseException) -> None:
        """Log a failure once, with what failed, and count it; the daemon goes on. Known
        kinds (the kernel's or the system's refusal) without a traceback; bugs with one."""
        kind = what.split(":", 1)[0]
        # Replaced, not mutated: the metrics thread reads it.
        self.errors = {**self.errors, kind: self.errors.get(kind, 0) + 1}
        if isinstance(exc, KernelError | OSError):
            log.error("%s failed: %s", what, exc)
        else:
            log.error("%s failed: %r", what, exc, exc_info=exc)

    def spawn(self, coro: Awaitable[object], name: str) -> asyncio.Task[object]:
        """Start a background task; its failure is logged and counted, never fatal."""
        task: asyncio.Task[object] = self.group.create_task(self._guard(coro, name), name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def keep(self, make: Callable[[], Awaitable[object]], name: str) -> asyncio.Task[object]:
        """Start a long-lived loop that is restarted with backoff whenever it fails."""
        return self.spawn(self._restarting(make, name), name)

    async def _guard(self, coro: Awaitable[object], name: str) -> None:
        try:
            await coro
        except Exception as exc:
            self.failed(name, exc)

    async def _restarting(self, make: Callable[[], Awaitable[object]], name: str) -> None:
        delay = BACKOFF_FIRST
        while True:
            started = time.monotonic()
            try:
                await make()
                return
            except Exception as exc:
                self.failed(name, exc)
            if time.monotonic() - started > BACKOFF_MAX:
                delay = BACKOFF_FIRST  # it ran well for a while: not a crash loop
            log.info("%s restarts in %.0f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def daemon_status(self, engine: Engine) -> dict[str, object]:
        """What `status` shows about the daemon itself: readiness and failures so far."""
        return {
            "ready": self.ready,
            "not_ready": None if self.ready else engine.reconcile_error,
            "errors": dict(self.errors),
        }

    async def count_connections(self, engine: Engine) -> None:
        """Before a status reply, outside the engine, so a slow conntrack dump never delays
        a failover: wait CONNTRACK_WAIT for fresh counts, else status shows the last ones
        (the dump goes on, one at a time, and updates them when done)."""
        if self.counting is None or self.counting.done():
            self.counting = self.spawn(self._count(engine), name="conntrack")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.counting), CONNTRACK_WAIT)

    async def _count(self, engine: Engine) -> None:
        try:
            counts = await asyncio.wait_for(
                connections_by_mark(engine.config.mark_mask), CONNTRACK_TIMEOUT
            )
            self.queue.put_nowait(ConnectionsCounted(counts))
            self.conntrack_error = None
        except (KernelError, TimeoutError) as exc:
            error = str(exc) or f"conntrack took over {CONNTRACK_TIMEOUT:.0f} s"
            if error != self.conntrack_error:  # `watch` asks every second: say it once
                log.warning("status without fresh connection counts: %s", error)
            self.conntrack_error = error

    def _check_ready(self, engine: Engine) -> None:
        """READY=1 to systemd only once the kernel was applied successfully."""
        if self.ready:
            return
        if engine.reconcile_error is None:
            self.ready = True
            notify("READY=1")
        elif engine.reconcile_error != self.told:  # once per reason, not per event
            self.told = engine.reconcile_error
            notify(f"STATUS=not ready: {engine.reconcile_error}")

    @staticmethod
    def _summary(engine: Engine) -> str:
        return ", ".join(f"{v.name} {v.state}" for v in link_views(engine.snapshot()))

    def _start_probes(self, engine: Engine) -> None:
        """A probe loop per checked link and per service backend (again after a reload)."""
        for task in self.probes:
            task.cancel()
        self.probes = []
        self.wakeups = {}
        self._watch_handshakes(engine)
        for name in engine.config.links:
            check = engine.config.health_of(name)
            if check is not None:
                self.wakeups[name] = asyncio.Event()
                self.probes.append(self.keep(
                    self._link_loop(engine, name, check), name=f"probe:{name}"
                ))  # fmt: skip
        for (service, key), check in engine.backend_checks().items():
            loop = self._backend_loop(engine, service, key, check)
            self.probes.append(self.keep(loop, name=f"probe:{service}/{key}"))

    def _link_loop(
        self, engine: Engine, name: str, check: HealthCheck
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        generation = engine.generation

        def report(result: ProbeRound) -> None:
            self.queue.put_nowait(ProbeDone(name, result, generation))

        wake = self.wakeups.get(name)
        return lambda: probe_loop(
            check, report, lambda: engine.health.get(name), lambda: link_binding(engine, name), wake
        )  # fmt: skip

    def probe_now(self, link: str) -> None:
        if (wake := self.wakeups.get(link)) is not None:
            wake.set()

    def _watch_handshakes(self, engine: Engine) -> None:
        """The conntrack event stream runs while some link's health asks for `passive`."""
        checks = (engine.config.health_of(name) for name in engine.config.links)
        wanted = any(check is not None and check.passive for check in checks)
        if wanted and (self.watcher is None or self.watcher.done()):

            def report(ended: dict[int, tuple[Handshake, ...]]) -> None:
                self.queue.put_nowait(HandshakesSeen(ended))

            def watched() -> tuple[int, dict[int, float]]:
                return engine.config.mark_mask, engine.passive_watch()

            self.watcher = self.keep(lambda: watch_handshakes(watched, report), name="passive")
        elif not wanted and self.watcher is not None:
            self.watcher.cancel()
            self.watcher = None

    def _backend_loop(
        self, engine: Engine, service: str, key: str, check: HealthCheck
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        generation = engine.generation

        def report(result: ProbeRound) -> None:
            self.queue.put_nowait(ProbeDone(key, result, generation, service))

        return lambda: probe_loop(check, report, lambda: engine.backends.get((service, key)))

    async def _consume(self, engine: Engine) -> None:
        stop = asyncio.ensure_future(self.stopping.wait())
        while not self.stopping.is_set():
            get = asyncio.ensure_future(self.queue.get())
            await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break
            event = get.result()
            if isinstance(event, Heartbeat):
                notify("WATCHDOG=1")
                continue
            if isinstance(event, Reload):
                self.reload_queued = False
            await self.executor.run(event)
            self._check_ready(engine)
        stop.cancel()

    async def _watch_kernel(self) -> None:
        async for event in kernel_events():
            self.subscribed.set()
            self.queue.put_nowait(event)

    @staticmethod
    async def _metrics(
        listen: str, engine: Engine, errors: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        try:
            serve_metrics(listen, engine, errors)  # own thread; a bind failure raises here
        except (OSError, ValueError) as exc:  # busy, no such address, not host:port
            raise OSError(f"cannot serve metrics on {listen!r}: {exc}") from exc
        await asyncio.Event().wait()

    async def _publish(self, worker: KernelWorker) -> None:
        """Once a second, multiwan's nft counters to the engine, which refreshes the
        immutable view the metrics thread reads."""
        while True:
            try:
                listing = await worker.call(lambda k: k.nft.list_json(f"counters table {TABLE}"))
            except KernelError:
                listing = None
            self.queue.put_nowait(CountersRead(listing))
            await asyncio.sleep(1.0)

    async def _watchdog(self, every: float) -> None:
        while True:
            self.queue.put_nowait(Heartbeat())
            await asyncio.sleep(every)

    def request_reload(self) -> None:
        """SIGHUP: one Reload waits in the queue at a time; a burst of signals reloads once
        (once more if one arrives while a reload runs), not once per signal."""
        if not self.reload_queued:
            self.reload_queued = True
            self.queue.put_nowait(Reload())

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)


def release_startup_memory() -> None:
    """Give the heap that the first reconcile used (netlink dumps) back to the system: a
    router's daemon should not keep ~10 MB it only needed once."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def raise_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: probes, control sessions and hooks all take
    descriptors, and running out fails every probe at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > FILE_LIMIT:
        hard = max(soft, FILE_LIMIT)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_daemon(config_path: Path, state_dir: Path) -> None:
    try:
        lock = claim_state_dir(state_dir)
    except (StateDirError, OSError) as exc:
        log.error("not starting: %s", exc)
        raise SystemExit(1) from None
    raise_file_limit()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(Daemon(config_path, state_dir).run())
    finally:
        os.close(lock)
