"""The daemon's single owner of state: it consumes events one at a time and keeps the kernel
matching link health.

A state change takes the fast path: recompute the policies' one-rule chains and apply only
those that changed, in one nft transaction. Address and route events take the slow path: a
full reconcile (the kernel deletes a link's routes when its interface goes down; they are
put back here). All blocking kernel calls run on one worker thread that owns the netlink
and nftables handles.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from multiwan.config.health import HealthCheck
from multiwan.config.schema import Config
from multiwan.core.compile import dynamic_state
from multiwan.core.links import ResolvedLink
from multiwan.core.linkstate import (
    Event,
    InterfaceChange,
    LinkHealth,
    OperatorChange,
    Transition,
    initial,
    step,
)
from multiwan.core.model import Family, Route
from multiwan.core.nft import FAMILIES, TABLE, dynamic_rule, policy_chain, with_digest
from multiwan.core.ownership import TABLE_FALLBACK, MarkSpace
from multiwan.core.plan import Plan, dynamic_plan
from multiwan.core.services import live_backends
from multiwan.core.strategy import Availability, Choice, availability
from multiwan.daemon import report
from multiwan.daemon.confirm import Confirmation, Pending
from multiwan.daemon.events import Control, DaemonEvent, ProbeDone, Reconcile, Reload
from multiwan.daemon.hooks import HookEvent, run_hooks
from multiwan.daemon.logs import fields, state_level
from multiwan.daemon.persist import load_states, save_states
from multiwan.daemon.rates import Rates
from multiwan.daemon.runtime import Runtime, RuntimeError_
from multiwan.daemon.worker import KernelWorker
from multiwan.kernel.conntrack import flush_backend_connections, flush_link_connections
from multiwan.kernel.errors import KernelError
from multiwan.kernel.events import AddressingChanged, InterfaceState, Resync
from multiwan.kernel.reconcile import ApplyError, Kernel
from multiwan.operations import Intent, apply_per_link

log = logging.getLogger("multiwan")
#: The digest of a policy chain that sends its connections to main (no live member).
LAST_RESORT_DIGEST = with_digest(dynamic_rule(Choice((), "main")))[1]


HISTORY = 200  # state changes kept for `multiwan log`


class Engine:
    """Consumes DaemonEvents; `links`, `health` and `config` are its state."""

    def __init__(
        self,
        config: Config,
        worker: KernelWorker,
        state_dir: Path,
        reload_config: Callable[[], Config],
        spawn: Callable[..., object],
    ) -> None:
        self.file_config = config
        self.runtime = Runtime()
        self.config = config  # the file's config with the runtime changes applied
        self.worker = worker
        self.states_path = state_dir / "link-states.json"
        self.reload_config = reload_config
        self.spawn = spawn  # starts a background task in the daemon's TaskGroup
        self.links: dict[str, ResolvedLink] = {}
        self.health: dict[str, LinkHealth] = {}
        self.backends: dict[tuple[str, str], LinkHealth] = {}  # (service, address:port)
        self.applied: dict[str, str] = {}  # dynamic chain -> digest loaded in the kernel
        self.fallback: frozenset[Route] = frozenset()  # the fallback table as applied
        self.local: Mapping[Family, str] = {}  # the router's non-uplink addresses
        self.generation = 0
        self.reconcile_pending = False
        self.reconcile_error: str | None = "not applied yet"  # None once the last one worked
        self.reconcile_failures = 0  # in a row: the retry backs off
        self.history: deque[dict[str, object]] = deque(maxlen=HISTORY)
        self.rates: dict[str, Rates] = {}
        self.interfaces: dict[str, str] = {n: link.interface for n, link in config.links.items()}
        self.transitions: dict[tuple[str, str], int] = {}  # (link, new state) -> count
        self.apply_count, self.apply_seconds = 0, 0.0  # policy updates, for metrics
        self.published: report.Published | None = None  # read by the metrics thread
        self.rejected: dict[str, int] = {}  # service -> connections refused (no backend)
        self.backend_connections: dict[str, int] = {}  # backend counter -> new connections
        self.connections: dict[int, int] = {}  # by mark; counted off the engine (run.py)
        self.confirmation = Confirmation()  # a reload awaiting `multiwan confirm`

    # --- views ---------------------------------------------------------------------------
    def availability(self) -> Availability:
        states = {name: health.state for name, health in self.health.items()}
        return availability(self.config, states, self.runtime.drained)

    def backend_checks(self) -> dict[tuple[str, str], HealthCheck]:
        """The health check of every service backend, by (service, address:port)."""
        return {
            (name, backend.key(service.ports[0])): service.backend_check(backend)
            for name, service in self.config.services.items()
            for backend in service.backends
        }

    def backends_live(self) -> dict[str, set[str]]:
        """Per service, the backends that take new connections (up and not drained)."""
        states = {key: health.state for key, health in self.backends.items()}
        return live_backends(self.config.services, states, self.runtime.drained_backends)

    def snapshot(self) -> report.Snapshot:
        """The engine's state as one frozen value: status, metrics and control read this."""
        return report.Snapshot(
            config=self.config,
            health=dict(self.health),
            backends=dict(self.backends),
            runtime=self.runtime,
            rates=dict(self.rates),
            rejected=dict(self.rejected),
            available=self.availability(),
            live_backends=self.backends_live(),
            transitions=dict(self.transitions),
            apply_count=self.apply_count,
            apply_seconds=self.apply_seconds,
            backend_connections=dict(self.backend_connections),
        )

    async def publish(self) -> None:
        """Refresh the immutable view the metrics thread reads (once a second)."""
        try:
            listing = await self.worker.call(lambda k: k.nft.list_json(f"counters table {TABLE}"))
        except KernelError:
            listing = None
        new, self.rejected, self.backend_connections = report.counted(listing)
        self.published = report.published(self.snapshot(), new)

    def status(self) -> dict[str, object]:
        pending = self.confirmation.describe(time.monotonic())
        return {**report.status(self.snapshot()), "awaiting_confirmation": pending}

    # --- start and reconcile -------------------------------------------------------------
    async def start(self) -> None:
        """Adopt what is in the kernel: compute, diff, apply only the difference."""
        await self.reconcile(first=True)

    async def reconcile(self, first: bool = False) -> None:
        self.reconcile_pending = False
        config = self.config
        previous = load_states(self.states_path) if first else {}
        if first or set(self.health) != set(config.links):
            try:
                facts = await self.worker.call(
                    lambda k: k.interface_facts(link.interface for link in config.links.values())
                )
            except KernelError as exc:
                self._reconcile_failed(exc)
                return
            now = time.monotonic()
            self.health = {
                name: self.health.get(name)
                or initial(
                    config.health_of(name), now, facts[link.interface].present,
                    facts[link.interface].present, previous.get(name),
                )
                for name, link in config.links.items()
            }  # fmt: skip
        now = time.monotonic()
        checks = self.backend_checks()
        self.backends = {
            key: self.backends.get(key) or initial(check, now, present=True, carrier=True)
            for key, check in checks.items()
        }
        available, backends = self.availability(), self.backends_live()
        try:
            found = await self.worker.call(lambda k: self._apply(k, config, available, backends))
        except (ApplyError, KernelError) as exc:
            self._reconcile_failed(exc)
            return
        self.reconcile_error, self.reconcile_failures = None, 0
        self.links = {link.name: link for link in found.links}
        self.local = found.local
        self.applied = dict(found.desired.nft.digests.dynamic)
        self.fallback = frozenset(r for r in found.desired.routes if r.table == TABLE_FALLBACK)
        if not found.plan.empty:
            log.info("reconciled: %s", found.plan.nft_summary or "routes, rules or sysctls")

    @staticmethod
    def _apply(
        kernel: Kernel, config: Config, available: Availability, backends: dict[str, set[str]]
    ) -> Intent:
        found, refused = apply_per_link(config, kernel, available, backends)
        for name, why in refused.items():
            log.error("link %s left out: the kernel refused it: %s", name, why)
        return found

    # --- events --------------------------------------------------------------------------
    async def handle(self, event: DaemonEvent) -> None:
        if isinstance(event, ProbeDone):
            if event.generation != self.generation:
                return
            if event.service is not None:
                await self._step_backend(event.service, event.subject, event.round)
            elif event.subject in self.health:
                await self._step(event.subject, event.round)
        elif isinstance(event, InterfaceState):
            await self._interface(event)
        elif isinstance(event, AddressingChanged):
            ifindexes = {link.ifindex for link in self.links.values() if link.ifindex}
            if event.concerns(ifindexes):
                self._schedule_reconcile()
        elif isinstance(event, Resync | Reconcile):
            self._schedule_reconcile()
        elif isinstance(event, Reload):
            await self._reload()
        elif isinstance(event, Control):
            try:
                event.reply.set_result({"ok": True, "result": await self._control(event)})
            except RuntimeError_ as exc:
                event.reply.set_result({"ok": False, "error": str(exc)})

    async def _control(self, request: Control) -> object:
        """Operator requests through the control socket; changes last until reload."""
        args, config = request.args, self.file_config
        if request.command == "status":
            return report.with_connections(self.status(), self.links, self.connections)
        if request.command == "log":
            return list(self.history)
        if request.command == "reload":
            await self._reload()
            return self.status()
        if request.command == "reload_confirm":  # daemon/confirm.py
            await self._reload_confirm(int(args["seconds"]))
            return self.status()
        if request.command == "confirm":
            self.confirmation.confirm()
            log.info("change confirmed: it stays")
            return self.status()
        if request.command == "mode":
            runtime = self.runtime.with_mode(config, str(args.get("mode")))
        elif request.command == "weight":
            runtime = self.runtime.with_weight(config, str(args.get("link")), int(args["weight"]))
        elif request.command == "backend":
            service, backend = str(args.get("service")), str(args.get("backend"))
            runtime = self.runtime.with_backend(config, service, backend, str(args.get("action")))
        elif request.command == "link":
            link, action = str(args.get("link")), str(args.get("action"))
            runtime = self.runtime.with_link(config, link, action)
        else:
            raise RuntimeError_(f"unknown command {request.command!r}")
        await self._apply_runtime(runtime)
        return self.status()

    async def _apply_runtime(self, runtime: Runtime) -> None:
        now = time.monotonic()
        for name in self.health:
            disabled = name in runtime.disabled
            if disabled != self.health[name].disabled:
                self.runtime = runtime
                await self._step(name, OperatorChange(now, disabled))
        self.runtime = runtime
        self.config = runtime.effective(self.file_config)
        await self.reconcile()
        log.info("runtime change: %s", runtime.describe())

    def _reconcile_failed(self, exc: Exception) -> None:
        """Logged, kept for `status`, and retried: reconcile_delay doubling up to a minute."""
        log.error("reconcile failed, kernel left as it was (retrying): %s", exc)
        self.reconcile_error = str(exc)
        self.reconcile_failures += 1
        self._schedule_reconcile()

    def _schedule_reconcile(self) -> None:
        if not self.reconcile_pending:
            self.reconcile_pending = True
            self.spawn(self._delayed_reconcile(), name="reconcile")

    async def _delayed_reconcile(self) -> None:
        delay = self.config.daemon.reconcile_delay
        await asyncio.sleep(min(delay * 2 ** min(self.reconcile_failures, 10), max(delay, 60)))
        await self.reconcile()

    async def _interface(self, event: InterfaceState) -> None:
        for name, link in self.config.links.items():
            if link.interface == event.name and name in self.health:
                change = InterfaceChange(
                    time.monotonic(), event.present, event.carrier and event.admin_up
                )
                await self._step(name, change)
        if event.present:
            self._schedule_reconcile()

    async def _step(self, name: str, event: Event) -> None:
        health, transition = step(self.health[name], event, self.config.health_of(name))
        self.health[name] = health
        if transition is not None:
            await self._on_transition(name, transition)

    async def _step_backend(self, service: str, key: str, event: Event) -> None:
        current = self.backends.get((service, key))
        check = self.backend_checks().get((service, key))
        if current is None or check is None:
            return
        health, transition = step(current, event, check)
        self.backends[(service, key)] = health
        if transition is None:
            return
        self.history.append({
            "time": time.time(), "link": f"{service}/{key}", "previous": transition.previous,
            "state": transition.state, "reason": transition.reason,
        })  # fmt: skip
        started = time.perf_counter()
        changed = await self.update_policies()
        took = (time.perf_counter() - started) * 1000
        log.log(
            state_level(transition.state), "service %s: backend %s %s -> %s (%s); %s in %.1f ms",
            service, key, transition.previous, transition.state, transition.reason,
            f"updated {', '.join(changed)}" if changed else "no change", took,
            extra=fields(service=service, backend=key, state=transition.state,
                         previous=transition.previous, reason=transition.reason),
        )  # fmt: skip
        if not self.backends_live().get(service):
            log.warning("service %s: no backend left; new connections are rejected", service)
        definition = self.config.services[service]
        if transition.state == "down" and definition.flush_on_down:
            backend = next(b for b in definition.backends if b.key(definition.ports[0]) == key)
            self.spawn(
                flush_backend_connections(backend.address, definition.protocol, backend.port),
                name=f"flush:{service}/{key}",
            )

    async def _on_transition(self, name: str, transition: Transition) -> None:
        self.history.append({
            "time": time.time(), "link": name, "previous": transition.previous,
            "state": transition.state, "reason": transition.reason,
        })  # fmt: skip
        started = time.perf_counter()
        changed = await self.update_policies()
        took = (time.perf_counter() - started) * 1000
        # Counted together after the update, so a snapshot taken while it runs never shows a
        # transition without its update (metrics read both).
        key = (name, transition.state)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        self.apply_count += 1
        self.apply_seconds += took / 1000
        log.log(
            state_level(transition.state), "link %s: %s -> %s (%s); %s in %.1f ms",
            name, transition.previous, transition.state, transition.reason,
            f"updated {', '.join(changed)}" if changed else "no policy changed", took,
            extra=fields(link=name, state=transition.state, previous=transition.previous,
                         reason=transition.reason),
        )  # fmt: skip
        check = self.config.health_of(name)
        link = self.links.get(name)
        flush = check is None or check.flush_conntrack
        if transition.state in ("down", "absent", "disabled") and link is not None and flush:
            self.spawn(self._flush(name, link.mark), name=f"flush:{name}")
        save_states(self.states_path, {n: h.state for n, h in self.health.items()
                                       if h.state != "disabled"})  # fmt: skip
        gateway = link.v4.gateway if link and link.v4 and link.v4.gateway else ""
        hook = HookEvent(name, transition.state, transition.previous,
                         self.config.links[name].interface, gateway)  # fmt: skip
        daemon = self.config.daemon
        self.spawn(run_hooks(Path(daemon.hooks_dir), hook, daemon.hook_timeout), name="hooks")

    async def update_policies(self) -> list[str]:
        """Rewrite the one-rule chains whose choice changed, then the fallback table: the
        same compile -> diff -> execute path as `apply`, limited to what health changes.
        The nft step (what moves forwarded traffic) goes first, as one transaction; the
        fallback route (the router's own new sockets) follows."""
        dynamic = dynamic_state(
            self.config,
            list(self.links.values()),
            self.availability(),
            self.backends_live(),
            self.local,
        )
        plan, digests = dynamic_plan(dynamic.rules, dynamic.fallback, self.applied, self.fallback)
        changed = sorted(chain for chain, tag in digests.items() if self.applied.get(chain) != tag)
        chains, routes = plan.split_nft()
        if not await self._execute(chains):
            return []
        if any(self._left_last_resort(chain) for chain in changed):
            resort = MarkSpace(self.config.mark_mask).last_resort
            self.spawn(self._flush("last resort", resort), name="flush:last-resort")
        self.applied = digests
        if routes.empty:
            return changed
        if not await self._execute(routes):
            return changed
        self.fallback = dynamic.fallback
        return [*changed, "fallback route"]

    async def _execute(self, plan: Plan) -> bool:
        """Carry out a fast-path plan; a failure schedules a full reconcile."""
        if plan.empty:
            return True
        try:
            await self.worker.call(lambda k: k.execute(plan))
        except (ApplyError, KernelError) as exc:
            log.error("policy update failed (%s); reconciling in full", exc)
            self._schedule_reconcile()
            return False
        return True

    def _left_last_resort(self, chain: str) -> bool:
        """Policy `chain` sent new connections to main until now and its policy wants them
        back on the links."""
        policy = next(
            (
                p
                for n, p in self.config.policies.items()
                if chain in {policy_chain(n, family) for family in FAMILIES}
            ),
            None,
        )
        return (
            policy is not None
            and policy.flush_last_resort
            and self.applied.get(chain) == LAST_RESORT_DIGEST
        )

    async def _flush(self, name: str, mark: int) -> None:
        try:
            count = await flush_link_connections(mark, self.config.mark_mask)
        except KernelError as exc:
            log.warning("link %s: could not flush its connections: %s", name, exc)
            return
        if count:
            log.info("link %s: flushed %d connections so they reconnect elsewhere", name, count)

    async def _reload_confirm(self, seconds: int) -> None:
        """Reload, and go back to the config running now unless confirmed in time."""
        pending = self.confirmation.begin(self.file_config, time.monotonic(), seconds)
        await self._reload()
        if self.file_config is pending.previous:  # rejected: nothing changed
            self.confirmation.cancel(pending)
            raise RuntimeError_("the new config was rejected (see the log); nothing changed")
        log.warning("reloaded; reverting in %d s unless confirmed (multiwan confirm)", seconds)
        self.spawn(self._revert_when_due(pending), name="confirm-timer")

    async def _revert_when_due(self, pending: Pending) -> None:
        await asyncio.sleep(max(0.0, pending.deadline - time.monotonic()))
        if self.confirmation.due(pending, time.monotonic()):
            log.warning("change not confirmed in time: reverting to the previous config")
            await self._reload(pending.previous)

    async def _reload(self, config: Config | None = None) -> None:
        """Re-read the config file, or take `config` (a revert)."""
        from multiwan.config.load import ConfigError

        try:
            config = config if config is not None else self.reload_config()
        except ConfigError as exc:
            log.error("reload rejected, keeping the running config: %s",
                      "; ".join(str(p) for p in exc.problems))  # fmt: skip
            return
        self.file_config, self.runtime, self.config = config, Runtime(), config
        self.interfaces.clear()
        self.interfaces.update({n: link.interface for n, link in config.links.items()})
        self.health = {n: h for n, h in self.health.items() if n in config.links}
        for name, health in list(self.health.items()):
            if health.disabled:  # runtime changes end with a reload
                await self._step(name, OperatorChange(time.monotonic(), disabled=False))
        self.generation += 1
        await self.reconcile()
        log.info("reloaded: %d links, %d policies, %d rules", len(config.links),
                 len(config.policies), len(config.rules))  # fmt: skip
