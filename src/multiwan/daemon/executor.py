"""Carries out the engine's effects, one after the other, and hands their outcomes back.

`run(event)` asks the engine what to do, does it, and feeds each outcome (FactsRead,
Reconciled, Applied, ...) straight back to the engine, before the next event from the
queue: the engine's decisions and the kernel stay in step. Every failure becomes a value:
the kernel's refusals turn into outcome events the engine decides about, and anything else
(a bug in one effect's code) is logged and counted by `failed`, and the remaining effects
still run. No failure of one effect stops the daemon.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Set
from pathlib import Path

from multiwan.config.load import ConfigError
from multiwan.config.schema import Config
from multiwan.core.pools import Seated
from multiwan.core.strategy import Availability
from multiwan.daemon.capacity import measure_capacity
from multiwan.daemon.effects import (
    Answer,
    Apply,
    ApplyConfig,
    Continue,
    Effect,
    Flush,
    FlushBackend,
    LoadConfig,
    Log,
    MeasureCapacity,
    ProbeNow,
    ReadFacts,
    RestartProbes,
    RunHooks,
    SaveMode,
    SaveSeats,
    SaveStates,
    SaveWeights,
    ScheduleReconcile,
    ScheduleRevert,
    ScheduleTunnelRetry,
    StartTunnel,
    StopTunnel,
)
from multiwan.daemon.engine import Engine, Now
from multiwan.daemon.events import (
    Applied,
    ApplyFailed,
    ConfigLoaded,
    ConfigRejected,
    DaemonEvent,
    FactsRead,
    ModeSaved,
    Reconcile,
    Reconciled,
    ReconcileFailed,
    RevertDue,
    TunnelRetry,
)
from multiwan.daemon.hooks import run_hooks
from multiwan.daemon.leftovers import TUNNELS_DIR, Records
from multiwan.daemon.logs import fields
from multiwan.daemon.persist import (
    MODE_FILE,
    SEATS_FILE,
    STATES_FILE,
    WEIGHTS_FILE,
    save_modes,
    save_seats,
    save_states,
    save_weights,
)
from multiwan.daemon.probes import link_binding
from multiwan.daemon.tunnels import TunnelProcesses
from multiwan.daemon.worker import KernelWorker
from multiwan.kernel.conntrack import flush_backend_connections, flush_link_connections
from multiwan.kernel.errors import KernelError
from multiwan.kernel.reconcile import ApplyError, Kernel
from multiwan.operations import apply_per_link

log = logging.getLogger("multiwan")

Spawn = Callable[[Awaitable[object], str], object]


def now() -> Now:
    return Now(time.monotonic(), time.time())


class Executor:
    def __init__(
        self,
        engine: Engine,
        worker: KernelWorker,
        state_dir: Path,
        load_config: Callable[[], Config],
        spawn: Spawn,
        enqueue: Callable[[DaemonEvent], None],
        restart_probes: Callable[[], None],
        failed: Callable[[str, BaseException], None],
        probe_now: Callable[[str], None] = lambda link: None,
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.states_path = state_dir / STATES_FILE
        self.mode_path = state_dir / MODE_FILE
        self.seats_path = state_dir / SEATS_FILE
        self.weights_path = state_dir / WEIGHTS_FILE
        self.load_config = load_config
        self.spawn = spawn  # a background task in the daemon's TaskGroup
        self.enqueue = enqueue
        self.restart_probes = restart_probes
        self.failed = failed
        self.probe_now = probe_now  # wakes a link's probe loop
        self.tunnels = TunnelProcesses(enqueue, Records(state_dir / TUNNELS_DIR))

    async def run(self, event: DaemonEvent) -> None:
        """Handle `event` and everything that follows from it."""
        pending = deque(self._decide(event))
        while pending:
            effect = pending.popleft()
            try:
                outcome = await self._carry_out(effect)
            except Exception as exc:
                self.failed(f"effect {type(effect).__name__}", exc)
                continue
            if outcome is not None:
                pending.extendleft(reversed(self._decide(outcome)))

    def _decide(self, event: DaemonEvent) -> list[Effect]:
        try:
            return self.engine.handle(event, now())
        except Exception as exc:  # a bug: the event is lost, the daemon is not
            self.failed(f"event {type(event).__name__}", exc)
            reply = getattr(event, "reply", None)
            if isinstance(reply, asyncio.Future) and not reply.done():
                reply.set_result({"ok": False, "error": f"internal error: {exc!r}"})
            return []

    async def _carry_out(self, effect: Effect) -> DaemonEvent | None:
        """Do one effect; its outcome, when the engine needs to know it."""
        match effect:
            case ReadFacts(interfaces, neighbours):
                try:
                    facts = await self.worker.call(lambda k: k.interface_facts(interfaces))
                    hosts = await self.worker.call(lambda k: k.neighbours()) if neighbours else None
                except KernelError as exc:
                    return ReconcileFailed(str(exc))
                return FactsRead(facts, None if hosts is None else tuple(hosts))
            case ApplyConfig(config, available, backends, seated):
                return await self._reconcile(config, available, backends, seated)
            case Apply(plan, purpose):
                started = time.perf_counter()
                try:
                    await self.worker.call(lambda k: k.execute(plan))
                except (ApplyError, KernelError) as exc:
                    return ApplyFailed(purpose, str(exc))
                return Applied(purpose, time.perf_counter() - started)
            case Flush(label, mark, mask):
                self.spawn(_flush(label, mark, mask), f"flush:{label}")
            case FlushBackend(address, protocol, port):
                flush = flush_backend_connections(address, protocol, port)
                self.spawn(flush, f"flush:{address}")
            case SaveStates() | SaveSeats() | SaveWeights():
                self._save(effect)
            case SaveMode(modes):
                try:
                    save_modes(self.mode_path, modes)
                except OSError as exc:
                    return ModeSaved(modes, str(exc))
                return ModeSaved(modes, None)
            case RunHooks(event, directory, timeout):
                self.spawn(run_hooks(Path(directory), event, timeout), "hooks")
            case ScheduleReconcile(delay):
                self.spawn(self._later(delay, Reconcile()), "reconcile")
            case StartTunnel() | StopTunnel() | ScheduleTunnelRetry():
                self._tunnel(effect)
            case ScheduleRevert(pending, delay):
                self.spawn(self._later(delay, RevertDue(pending)), "confirm-timer")
            case LoadConfig(reply, pending):
                try:
                    return ConfigLoaded(self.load_config(), reply, pending)
                except ConfigError as exc:
                    return ConfigRejected(tuple(str(p) for p in exc.problems), reply, pending)
            case RestartProbes():
                self.restart_probes()
            case ProbeNow(link):
                self.probe_now(link)
            case MeasureCapacity(link, argv, timeout):
                self.spawn(self._measure(link, argv, timeout), f"measure:{link}")
            case Answer(reply, payload):
                if not reply.done():  # the client may have gone
                    reply.set_result(payload)
            case Log(level, text, journal):
                log.log(level, "%s", text, extra=fields(**journal) if journal else None)
            case Continue(event):
                return event
        return None

    def _save(self, effect: SaveStates | SaveSeats | SaveWeights) -> None:
        """What a restart resumes from, in the state directory (best effort: logged)."""
        match effect:
            case SaveStates(states):
                save_states(self.states_path, states)
            case SaveSeats(seats):
                save_seats(self.seats_path, seats)
            case SaveWeights(weights):
                save_weights(self.weights_path, weights)

    def _tunnel(self, effect: StartTunnel | StopTunnel | ScheduleTunnelRetry) -> None:
        """Tunnel processes run as tasks of their own (daemon/tunnels.py): their starts and
        exits come back as events."""
        match effect:
            case StartTunnel(spec, attempt):
                self.spawn(self.tunnels.run(spec, attempt), f"tunnel:{spec.link}")
            case StopTunnel(link, _):
                self.spawn(self.tunnels.stop(link), f"tunnel:{link}")
            case ScheduleTunnelRetry(link, attempt, delay):
                self.spawn(self._later(delay, TunnelRetry(link, attempt)), f"tunnel:{link}")

    async def _reconcile(
        self,
        config: Config,
        available: Availability,
        backends: Mapping[str, Set[str]],
        seated: Seated,
    ) -> DaemonEvent:
        def apply(kernel: Kernel) -> Reconciled:
            found, refused = apply_per_link(config, kernel, available, backends, seated)
            for name, why in refused.items():
                log.error("link %s left out: the kernel refused it: %s", name, why)
            return Reconciled(
                links=tuple(found.links),
                local=found.local,
                digests=found.desired.nft.digests.dynamic,
                fallback=found.desired.dynamic_routes,
                summary=None
                if found.plan.empty
                else found.plan.nft_summary or "routes, rules or sysctls",
            )

        try:
            return await self.worker.call(apply)
        except (ApplyError, KernelError) as exc:
            return ReconcileFailed(str(exc))

    async def _measure(self, link: str, argv: tuple[str, ...], timeout: float) -> None:
        self.enqueue(await measure_capacity(link, argv, timeout, link_binding(self.engine, link)))

    async def _later(self, delay: float, event: DaemonEvent) -> None:
        await asyncio.sleep(max(0.0, delay))
        self.enqueue(event)


async def _flush(label: str, mark: int, mask: int) -> None:
    try:
        count = await flush_link_connections(mark, mask)
    except KernelError as exc:
        log.warning("link %s: could not flush its connections: %s", label, exc)
        return
    if count:
        log.info("link %s: flushed %d connections so they reconnect elsewhere", label, count)
