"""The daemon's decisions: `Engine.handle(event, now) -> effects`, synchronous and free of
I/O, so every decision is tested without root (tests/unit/daemon/test_playbooks.py).

The engine owns the daemon's state and changes it only from events: what the kernel
confirmed (Reconciled, Applied) comes back as an event too, so its `applied` digests and
fallback routes are always what the kernel holds. A link state change takes the fast path
(rewrite the one-rule chains whose choice changed, then the fallback routes); addresses,
routes, interface appearances, reloads and runtime changes take the slow path: a full
reconcile that reads every link's interface facts first (presence, carrier and admin
state are refreshed on every reconcile, so no link stays `absent` on a lost event).
"""

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from multiwan.config.health import HealthCheck
from multiwan.config.schema import Config
from multiwan.core.compile import dynamic_state
from multiwan.core.links import InterfaceFacts, ResolvedLink
from multiwan.core.linkstate import (
    Event,
    InterfaceChange,
    LinkHealth,
    OperatorChange,
    PassiveAlarm,
    State,
    Transition,
    initial,
    step,
)
from multiwan.core.model import Family, Route
from multiwan.core.nft import FAMILIES, dynamic_rule, policy_chain, with_digest
from multiwan.core.ownership import MarkSpace
from multiwan.core.passive import Handshake, Passive, observe
from multiwan.core.plan import dynamic_plan
from multiwan.core.services import live_backends
from multiwan.core.strategy import Availability, Choice, availability
from multiwan.core.traffic import Sample, Traffic, sample
from multiwan.daemon import report
from multiwan.daemon.autoweights import AutoWeights
from multiwan.daemon.clients import ClientPools
from multiwan.daemon.confirm import Confirmation, Pending
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
)
from multiwan.daemon.events import (
    Announce,
    Answered,
    Applied,
    ApplyFailed,
    CapacityMeasured,
    ConfigLoaded,
    ConfigRejected,
    ConnectionsCounted,
    Control,
    CountersRead,
    DaemonEvent,
    FactsRead,
    FallbackUpdate,
    HandshakesSeen,
    ModeSaved,
    PolicyUpdate,
    ProbeDone,
    RatesSampled,
    Reconcile,
    Reconciled,
    ReconcileFailed,
    Reload,
    Reloaded,
    Reply,
    RevertDue,
    Start,
    TunnelExited,
    TunnelRetry,
    TunnelStarted,
)
from multiwan.daemon.hooks import HookEvent
from multiwan.daemon.logs import state_level
from multiwan.daemon.rates import Rates
from multiwan.daemon.runtime import Runtime, RuntimeError_
from multiwan.daemon.supervise import Tunnels
from multiwan.kernel.events import AddressingChanged, InterfaceState, NeighbourChanged, Resync

INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR
#: The digest of a policy chain that sends its connections to main (no live member).
LAST_RESORT_DIGEST = with_digest(dynamic_rule(Choice((), "main")))[1]
HISTORY = 200  # state changes kept for `multiwan log`
RETRY_MAX = 60.0  # seconds: the longest wait between reconcile retries


@dataclass(frozen=True)
class Now:
    """The time of an event: monotonic for the state machines, wall clock for people."""

    monotonic: float
    wall: float


class Engine:
    """Consumes DaemonEvents one at a time; returns what to do about each."""

    def __init__(self, config: Config) -> None:
        self.file_config = config
        self.runtime = Runtime()
        self.config = config  # the file's config with the runtime changes applied
        self.previous: Mapping[str, State] = {}  # states the last run saved
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
        self.rates: dict[str, Rates] = {}  # from the rate sampler (RatesSampled)
        self.traffic: dict[str, Traffic] = {}  # the traffic floor and capacity, per link
        self.interfaces: dict[str, str] = {n: link.interface for n, link in config.links.items()}
        self.transitions: dict[tuple[str, str], int] = {}  # (link, new state) -> count
        self.apply_count, self.apply_seconds = 0, 0.0  # policy updates, for metrics
        self.published: report.Published | None = None  # read by the metrics thread
        self.rejected: dict[str, int] = {}  # service -> connections refused (no backend)
        self.backend_connections: dict[str, int] = {}  # backend counter -> new connections
        self.rule_hits: dict[int, int] = {}  # rule index -> new connections it sent
        self.confirmation = Confirmation()  # a reload awaiting `multiwan confirm`
        self.connections: Mapping[int, int] = {}  # by mark
        self.persisted: tuple[str, ...] = ()  # `mode --persist`: survives restarts, reloads
        self.pools = ClientPools()  # least-loaded policies' clients and their seats
        self.passive: dict[str, Passive] = {}  # what users' connections say, per link
        self.tunnels = Tunnels()  # tunnel links' processes (daemon/supervise.py)
        self.auto_weights = AutoWeights()  # weight = "auto" links (daemon/autoweights.py)

    # --- views ---------------------------------------------------------------------------
    def availability(self) -> Availability:
        return availability(
            self.config, self._states(), self.runtime.drained, self.auto_weights.weights()
        )

    def passive_watch(self) -> dict[int, float]:
        """The marks of the links whose users' connections are watched (health `passive`),
        with each link's passive_timeout: what the watcher (kernel/ctwatch.py) reports."""
        watched: dict[int, float] = {}
        for name, link in self.links.items():
            check = self.config.health_of(name) if name in self.config.links else None
            if check is not None and check.passive:
                watched[link.mark] = check.passive_timeout
        return watched

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
            persisted=self.persisted,
            pools=self.pools.view(),
            rates=dict(self.rates),
            rejected=dict(self.rejected),
            available=self.availability(),
            live_backends=self.backends_live(),
            transitions=dict(self.transitions),
            apply_count=self.apply_count,
            apply_seconds=self.apply_seconds,
            backend_connections=dict(self.backend_connections),
            rule_hits=dict(self.rule_hits),
            passive=dict(self.passive),
            traffic=dict(self.traffic),
            tunnels=self.tunnels.view(),
            auto_weights=self.auto_weights.view(self.config),
        )

    def status(self, now: Now) -> dict[str, object]:
        pending = self.confirmation.describe(now.monotonic)
        return {**report.status(self.snapshot()), "awaiting_confirmation": pending}

    # --- events --------------------------------------------------------------------------
    def handle(self, event: DaemonEvent, now: Now) -> list[Effect]:
        """What to do about `event`; the state changes here, the world in the executor."""
        match event:
            case Start(previous, modes, seats, weights):
                self.previous = previous
                self.pools.resume(seats)
                self.auto_weights.resume(weights)
                return [*self._resume(modes), *self._reconcile()]
            case Reconcile():
                self.reconcile_pending = False
                return self._reconcile()
            case Resync():  # events were lost: whatever they said, a reconcile finds out
                return self._schedule_reconcile()
            case FactsRead(facts, neighbours):
                if neighbours is not None:
                    uplinks = {fact.index for fact in facts.values() if fact.index}
                    self.pools.refresh(neighbours, uplinks)
                return self._facts(facts, now)
            case NeighbourChanged():
                uplinks = {link.ifindex for link in self.links.values() if link.ifindex}
                if self._pools() and self.pools.learn(event, uplinks):
                    return self._update_policies(Announce("clients changed"))
            case Reconciled():
                return self._reconciled(event)
            case ReconcileFailed(error):
                self.reconcile_error = error
                self.reconcile_failures += 1
                text = f"reconcile failed, kernel left as it was (retrying): {error}"
                return [Log(ERROR, text), *self._schedule_reconcile()]
            case ProbeDone() if event.generation == self.generation:
                if event.service is not None:
                    return self._step_backend(event.service, event.subject, event.round, now)
                if event.subject in self.health:
                    return self._step(event.subject, event.round, now)
            case InterfaceState():
                return self._interface(event, now)
            case AddressingChanged():
                ifindexes = {link.ifindex for link in self.links.values() if link.ifindex}
                if event.concerns(ifindexes):
                    return self._schedule_reconcile()
            case Applied(purpose, seconds):
                return self._applied(purpose, seconds)
            case ApplyFailed(purpose, error):
                return self._apply_failed(purpose, error)
            case Reload():
                return [LoadConfig()]
            case ModeSaved(modes, None):
                self.persisted = modes
                return [Log(INFO, f"mode persisted: {', '.join(modes) or 'none'}")]
            case ModeSaved(modes, error):
                text = f"could not persist the mode {', '.join(modes) or 'none'}: {error}"
                return [Log(ERROR, text)]
            case ConfigLoaded() | ConfigRejected() | RevertDue():
                return self._reloading(event, now)
            case Reloaded(reply):
                return self._reloaded(reply, now)
            case Control():
                return self._control(event, now)
            case Answered(reply):
                return self._answer(reply, now)
            case HandshakesSeen() | RatesSampled():
                return self._traffic(event, now)
            case CapacityMeasured(link, kbit, error):
                return self.auto_weights.measured(link, kbit, error, now.monotonic)
            case ConnectionsCounted(by_mark):
                self.connections = by_mark
            case TunnelStarted() | TunnelExited() | TunnelRetry():
                return self._tunnel(event, now)
            case CountersRead(listing):
                counts = report.counted(listing)
                self.rejected, self.backend_connections = counts.rejected, counts.backends
                self.rule_hits = counts.rules
                self.published = report.published(self.snapshot(), counts.new)
        return []

    def _reloaded(self, reply: Reply | None, now: Now) -> list[Effect]:
        config = self.config
        text = (
            f"reloaded: {len(config.links)} links, {len(config.policies)} policies, "
            f"{len(config.rules)} rules"
        )
        if self.runtime.modes:
            text += f"; persisted mode in force: {', '.join(self.runtime.modes)}"
        return [RestartProbes(), Log(INFO, text), *self._answer(reply, now)]

    # --- reconcile -----------------------------------------------------------------------
    def _reconcile(self) -> list[Effect]:
        interfaces = sorted({link.interface for link in self.config.links.values()})
        return [ReadFacts(tuple(interfaces), neighbours=bool(self._pools()))]

    def _facts(self, facts: Mapping[str, InterfaceFacts], now: Now) -> list[Effect]:
        """Health from fresh interface facts (new links start from the saved state), then
        the full apply; transitions found here need no fast path of their own."""
        effects: list[Effect] = []
        for name, link in self.config.links.items():
            fact = facts.get(link.interface, InterfaceFacts(present=False))
            carrier = fact.carrier and fact.admin_up
            if name not in self.health:
                self.health[name] = initial(
                    self.config.health_of(name), now.monotonic, fact.present, carrier,
                    self.previous.get(name),
                )  # fmt: skip
            else:
                change = InterfaceChange(now.monotonic, fact.present, carrier)
                effects += self._step(name, change, now, update=False)
        self.health = {n: h for n, h in self.health.items() if n in self.config.links}
        checks = self.backend_checks()
        self.backends = {
            key: self.backends.get(key) or initial(check, now.monotonic, True, True)
            for key, check in checks.items()
        }
        config, available, live = self.config, self.availability(), self.backends_live()
        effects += self._reseat()
        seated = self.pools.seated(config)
        return [*effects, ApplyConfig(config, available, live, seated)]

    def _reconciled(self, done: Reconciled) -> list[Effect]:
        self.reconcile_error, self.reconcile_failures = None, 0
        self.links = {link.name: link for link in done.links}
        self.local = done.local
        self.applied = dict(done.digests)
        self.fallback = done.fallback
        # Tunnels start once their base link's routes and rules are in the kernel.
        tunnels = self.tunnels.sync(self.config, self._states())
        if done.summary is None:
            return tunnels
        return [Log(INFO, f"reconciled: {done.summary}"), *tunnels]

    def _schedule_reconcile(self) -> list[Effect]:
        """One pending reconcile at a time, after reconcile_delay; after failures the delay
        doubles up to a minute."""
        if self.reconcile_pending:
            return []
        self.reconcile_pending = True
        delay = self.config.daemon.reconcile_delay
        backoff = delay * 2 ** min(self.reconcile_failures, 10)
        return [ScheduleReconcile(min(backoff, max(delay, RETRY_MAX)))]

    # --- health --------------------------------------------------------------------------
    def _interface(self, event: InterfaceState, now: Now) -> list[Effect]:
        effects: list[Effect] = []
        change = InterfaceChange(now.monotonic, event.present, event.carrier and event.admin_up)
        for name, link in self.config.links.items():
            if link.interface == event.name and name in self.health:
                effects += self._step(name, change, now)
        if event.present:
            effects += self._schedule_reconcile()
        return effects

    def _handshakes(self, by_mark: Mapping[int, tuple[Handshake, ...]], now: Now) -> list[Effect]:
        """Fold the users' handshakes into each watched link's evidence (core/passive.py);
        on an alarm the link is probed at once, and with passive_down it goes down first."""
        effects: list[Effect] = []
        names = {link.mark: name for name, link in self.links.items()}
        for mark, handshakes in by_mark.items():
            name = names.get(mark)
            check = self.config.health_of(name) if name in self.config.links else None
            if name is None or check is None or not check.passive or name not in self.health:
                continue
            evidence, armed = self.passive.get(name, Passive()), self.health[name].verdict != "down"
            passive, alarm = observe(
                evidence, handshakes, now.monotonic, check.passive_destinations, armed
            )
            self.passive[name] = passive
            if alarm is None:
                continue
            then = "taking it down" if check.passive_down else "probing it at once"
            text = f"link {name}: passive alarm: {alarm}; {then}"
            effects.append(Log(WARNING, text, {"link": name, "passive": alarm}))
            effects += self._step(name, PassiveAlarm(now.monotonic, alarm, check.passive_down), now)
            effects.append(ProbeNow(name))
        return effects

    def _traffic(self, event: HandshakesSeen | RatesSampled, now: Now) -> list[Effect]:
        """What the links' traffic says: the users' handshakes (the passive signal), or
        each link's rates (core/traffic.py: a link that sends at its traffic floor but
        receives less is suspect and probed at once; the capacity it has shown)."""
        if isinstance(event, HandshakesSeen):
            return self._handshakes(event.by_mark, now)
        self.rates = dict(event.rates)
        effects: list[Effect] = []
        for name, rates in self.rates.items():
            check = self.config.health_of(name) if name in self.config.links else None
            rated = Sample(now.monotonic, rates.rx_kbit, rates.tx_kbit, rates.rx_pps, rates.tx_pps)
            traffic, alarm = sample(self.traffic.get(name, Traffic()), rated, check)
            self.traffic[name] = traffic
            if alarm is None or name not in self.health or self.health[name].verdict == "down":
                continue
            text = f"link {name}: {alarm}; probing it at once"
            effects.append(Log(WARNING, text, {"link": name, "traffic": alarm}))
            effects += self._step(name, PassiveAlarm(now.monotonic, alarm, down=False), now)
            effects.append(ProbeNow(name))
        return [*effects, *self._weigh(now)]

    def _weigh(self, now: Now) -> list[Effect]:
        """`weight = "auto"` links: their weights follow the capacity they show (logged
        with the reason, applied by the fast path) and measurement commands come due."""
        effects, moved = self.auto_weights.sample(self.config, self.traffic, self.health,
                                                  now.monotonic)  # fmt: skip
        if not moved:
            return effects
        text = "; ".join(f"link {name}: {change}" for name, change in moved)
        fields = {"link": moved[0][0]} if len(moved) == 1 else {}
        saved = SaveWeights(self.auto_weights.weights())
        return [*effects, *self._update_policies(Announce(text, INFO, fields)), saved]

    def _step(self, name: str, event: Event, now: Now, update: bool = True) -> list[Effect]:
        health, transition = step(self.health[name], event, self.config.health_of(name))
        self.health[name] = health
        if transition is None:
            return []
        return self._on_transition(name, transition, now, update)

    def _on_transition(
        self, name: str, transition: Transition, now: Now, update: bool
    ) -> list[Effect]:
        self._remember(name, transition, now)
        key = (name, transition.state)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        announce = Announce(
            f"link {name}: {transition.previous} -> {transition.state} ({transition.reason})",
            state_level(transition.state),
            {"link": name, "state": transition.state, "previous": transition.previous,
             "reason": transition.reason},
        )  # fmt: skip
        effects: list[Effect] = [Log(announce.level, announce.text, announce.fields)]
        if update:
            effects = self._update_policies(announce)
        check = self.config.health_of(name)
        link = self.links.get(name)
        flush = check is None or check.flush_conntrack
        if transition.state in ("down", "absent", "disabled") and link is not None and flush:
            effects.append(Flush(name, link.mark, self.config.mark_mask))
        states = {n: h.state for n, h in self.health.items() if h.state != "disabled"}
        effects.append(SaveStates(states))
        gateway = link.v4.gateway if link and link.v4 and link.v4.gateway else ""
        hook = HookEvent(name, transition.state, transition.previous,
                         self.config.links[name].interface, gateway)  # fmt: skip
        daemon = self.config.daemon
        effects.append(RunHooks(hook, daemon.hooks_dir, daemon.hook_timeout))
        if update:  # else a reconcile follows, and its end syncs the tunnels
            effects += self.tunnels.sync(self.config, self._states())
        return effects

    def _tunnel(self, event: TunnelStarted | TunnelExited | TunnelRetry, now: Now) -> list[Effect]:
        """The tunnel processes' reports (daemon/tunnels.py) and backoff timers."""
        match event:
            case TunnelStarted(link, attempt, pid, implementation, why):
                return self.tunnels.started(link, attempt, pid, implementation, why,
                                            now.monotonic)  # fmt: skip
            case TunnelExited(link, attempt, reason):
                states = self._states()
                return self.tunnels.exited(link, attempt, reason, now.monotonic, self.config,
                                           states)  # fmt: skip
            case TunnelRetry(link, attempt):
                return self.tunnels.retry(link, attempt, self.config, self._states())
        return []

    def _states(self) -> dict[str, State]:
        return {name: health.state for name, health in self.health.items()}

    def _step_backend(self, service: str, key: str, event: Event, now: Now) -> list[Effect]:
        current = self.backends.get((service, key))
        check = self.backend_checks().get((service, key))
        if current is None or check is None:
            return []
        health, transition = step(current, event, check)
        self.backends[(service, key)] = health
        if transition is None:
            return []
        self._remember(f"{service}/{key}", transition, now)
        announce = Announce(
            f"service {service}: backend {key} {transition.previous} -> {transition.state} "
            f"({transition.reason})",
            state_level(transition.state),
            {"service": service, "backend": key, "state": transition.state,
             "previous": transition.previous, "reason": transition.reason},
        )  # fmt: skip
        effects = self._update_policies(announce)
        if not self.backends_live().get(service):
            text = f"service {service}: no backend left; new connections are rejected"
            effects.append(Log(WARNING, text))
        definition = self.config.services[service]
        if transition.state == "down" and definition.flush_on_down:
            backend = next(b for b in definition.backends if b.key(definition.ports[0]) == key)
            effects.append(FlushBackend(backend.address, definition.protocol, backend.port))
        return effects

    def _remember(self, subject: str, transition: Transition, now: Now) -> None:
        self.history.append({
            "time": now.wall, "link": subject, "previous": transition.previous,
            "state": transition.state, "reason": transition.reason,
        })  # fmt: skip

    # --- the fast path -------------------------------------------------------------------
    def _update_policies(self, announce: Announce) -> list[Effect]:
        """Rewrite the one-rule chains whose choice changed, then the fallback table: the
        same compile -> diff -> execute path as `apply`, limited to what health changes.
        The nft step (what moves forwarded traffic) goes first, as one transaction; the
        fallback route (the router's own new sockets) follows once it worked."""
        seating = self._reseat()
        dynamic = dynamic_state(
            self.config,
            list(self.links.values()),
            self.availability(),
            self.backends_live(),
            self.local,
            self.pools.seated(self.config),
        )
        plan, digests = dynamic_plan(dynamic.rules, dynamic.fallback, self.applied, self.fallback)
        if plan.empty:
            text = f"{announce.text}; no policy changed"
            return [*seating, Log(announce.level, text, announce.fields)]
        changed = tuple(sorted(c for c, tag in digests.items() if self.applied.get(c) != tag))
        chains, routes = plan.split_nft()
        update = PolicyUpdate(digests, changed, routes, dynamic.fallback, announce)
        return [*seating, Apply(chains, update)]

    def _applied(self, purpose: PolicyUpdate | FallbackUpdate, seconds: float) -> list[Effect]:
        if isinstance(purpose, PolicyUpdate):
            effects: list[Effect] = []
            if any(self._left_last_resort(chain) for chain in purpose.changed):
                resort = MarkSpace(self.config.mark_mask).last_resort
                effects.append(Flush("last resort", resort, self.config.mark_mask))
            self.applied = dict(purpose.digests)
            if purpose.routes.empty:
                return [*self._updated(purpose.announce, purpose.changed, seconds), *effects]
            then = FallbackUpdate(purpose.fallback, purpose.changed, purpose.announce, seconds)
            return [*effects, Apply(purpose.routes, then)]
        self.fallback = purpose.fallback
        changed = (*purpose.changed, "fallback route")
        return self._updated(purpose.announce, changed, purpose.seconds + seconds)

    def _updated(
        self, announce: Announce, changed: tuple[str, ...], seconds: float
    ) -> list[Effect]:
        self.apply_count += 1
        self.apply_seconds += seconds
        what = f"updated {', '.join(changed)}" if changed else "no policy changed"
        text = f"{announce.text}; {what} in {seconds * 1000:.1f} ms"
        return [Log(announce.level, text, announce.fields)]

    def _apply_failed(self, purpose: PolicyUpdate | FallbackUpdate, error: str) -> list[Effect]:
        """The kernel refused a fast-path step: it keeps what it had (each step is atomic);
        a full reconcile puts it right."""
        announce = purpose.announce
        text = f"{announce.text}; update not applied"
        effects: list[Effect] = [Log(announce.level, text, announce.fields)]
        if isinstance(purpose, FallbackUpdate):
            effects = self._updated(purpose.announce, purpose.changed, purpose.seconds)
        text = f"policy update failed ({error}); reconciling in full"
        return [*effects, Log(ERROR, text), *self._schedule_reconcile()]

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

    # --- least-loaded pools -------------------------------------------------------------
    def _pools(self) -> list[str]:
        return [n for n, p in self.config.policies.items() if p.strategy == "least-loaded"]

    def _reseat(self) -> list[Effect]:
        """Seat the present clients of every least-loaded policy on its live links; logged
        and saved when a seat changed."""
        usable = self.availability()
        routable = frozenset(n for n, link in self.links.items() if link.routable)
        usable = usable.within(routable)
        moves = self.pools.reseat(self.config, self.links, usable)
        if not moves:
            return []
        return [*(Log(INFO, move) for move in moves), SaveSeats(self.pools.saved())]

    # --- operator ------------------------------------------------------------------------
    def _resume(self, modes: tuple[str, ...]) -> list[Effect]:
        """Runtime changes start over from the persisted mode (at start and on reload); a
        persisted mode the config no longer has is left out, with a warning."""
        runtime, effects = Runtime(), list[Effect]()
        for mode in modes:
            try:
                runtime = runtime.with_mode(self.file_config, mode)
            except RuntimeError_ as exc:
                effects.append(Log(WARNING, f"persisted mode left out: {exc}"))
        self.persisted = modes
        self.runtime = runtime
        self.config = runtime.effective(self.file_config)
        return effects

    def _reloading(
        self, event: ConfigLoaded | ConfigRejected | RevertDue, now: Now
    ) -> list[Effect]:
        """A config read for a reload (maybe one to confirm), or a confirm window's end."""
        match event:
            case ConfigLoaded(config, reply, pending):
                return self._reload(config, reply, now, pending)
            case ConfigRejected(problems, reply, pending):
                if pending is not None:
                    self.confirmation.cancel(pending)
                text = f"reload rejected, keeping the running config: {'; '.join(problems)}"
                return [Log(ERROR, text), *self._error(reply, text)]
            case RevertDue(pending) if self.confirmation.due(pending, now.monotonic):
                text = "change not confirmed in time: reverting to the previous config"
                return [Log(WARNING, text), *self._reload(pending.previous, None, now)]
        return []

    def _reload(
        self, config: Config, reply: Reply | None, now: Now, pending: Pending | None = None
    ) -> list[Effect]:
        """A valid new config: runtime changes end (the persisted mode stays), probes
        restart, a full reconcile; with `pending` (`reload --confirm`), a revert timer set
        before the answer."""
        self.file_config = config
        effects = self._resume(self.persisted)
        self.interfaces.clear()
        self.interfaces.update({n: link.interface for n, link in config.links.items()})
        self.health = {n: h for n, h in self.health.items() if n in config.links}
        self.passive = {n: p for n, p in self.passive.items() if n in config.links}
        self.traffic = {n: t for n, t in self.traffic.items() if n in config.links}
        self.auto_weights.keep(config.links)
        for name, health in list(self.health.items()):
            if health.disabled:
                effects += self._step(name, OperatorChange(now.monotonic, disabled=False), now)
        self.generation += 1
        effects += self._reconcile()
        if pending is not None:
            delay = pending.deadline - now.monotonic
            text = f"reloaded; reverting in {delay:.0f} s unless confirmed (multiwan confirm)"
            effects += [Log(WARNING, text), ScheduleRevert(pending, delay)]
        return [*effects, Continue(Reloaded(reply))]

    def _control(self, request: Control, now: Now) -> list[Effect]:
        """Operator requests through the control socket; changes last until reload."""
        args, config, reply = request.args, self.file_config, request.reply
        try:
            match request.command:
                case "status":
                    return self._answer(reply, now)
                case "log":
                    return [Answer(reply, {"ok": True, "result": list(self.history)})]
                case "reload":
                    return [LoadConfig(reply)]
                case "reload_confirm":  # daemon/confirm.py
                    seconds = int(args["seconds"])
                    return [
                        LoadConfig(reply, self.confirmation.begin(config, now.monotonic, seconds))
                    ]
                case "confirm":
                    self.confirmation.confirm()
                    return [Log(INFO, "change confirmed: it stays"), *self._answer(reply, now)]
                case "mode":
                    runtime = self.runtime.with_mode(config, str(args.get("mode")))
                    if args.get("persist"):
                        effects = self._apply_runtime(runtime, now)
                        return [*effects, SaveMode(runtime.modes), Continue(Answered(reply))]
                case "weight":  # argument types were checked by the control server
                    link, weight = str(args.get("link")), int(args["weight"])
                    runtime = self.runtime.with_weight(config, link, weight)
                case "backend":
                    service, backend = str(args.get("service")), str(args.get("backend"))
                    action = str(args.get("action"))
                    runtime = self.runtime.with_backend(config, service, backend, action)
                case "link":
                    link, action = str(args.get("link")), str(args.get("action"))
                    runtime = self.runtime.with_link(config, link, action)
                case _:
                    raise RuntimeError_(f"unknown command {request.command!r}")
        except RuntimeError_ as exc:
            return self._error(reply, str(exc))
        return [*self._apply_runtime(runtime, now), Continue(Answered(reply))]

    def _apply_runtime(self, runtime: Runtime, now: Now) -> list[Effect]:
        self.runtime = runtime
        self.config = runtime.effective(self.file_config)
        effects: list[Effect] = []
        for name in self.health:
            disabled = name in runtime.disabled
            if disabled != self.health[name].disabled:
                effects += self._step(name, OperatorChange(now.monotonic, disabled), now)
        return [*effects, *self._reconcile(), Log(INFO, f"runtime change: {runtime.describe()}")]

    def _answer(self, reply: Reply | None, now: Now) -> list[Effect]:
        if reply is None:
            return []
        result = report.with_connections(self.status(now), self.links, self.connections)
        return [Answer(reply, {"ok": True, "result": result})]

    @staticmethod
    def _error(reply: Reply | None, text: str) -> list[Effect]:
        return [] if reply is None else [Answer(reply, {"ok": False, "error": text})]
