"""Playbooks: the engine's decisions for whole operator and failure stories, without root.

`Play` drives the engine as the executor does (outcomes handed straight back), with the
kernel played by the pure compiler: a reconcile resolves the links from the facts given and
loads what `compile_state` wants; a fast-path plan is taken or refused as the test says.
"""

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from multiwan.config.load import load_config_text
from multiwan.config.schema import Config
from multiwan.core.compile import compile_state, dynamic_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.linkstate import ProbeRound, TargetResult
from multiwan.core.passive import Handshake
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
    ScheduleReconcile,
    ScheduleRevert,
)
from multiwan.daemon.engine import WARNING, Engine, Now
from multiwan.daemon.events import (
    Applied,
    ApplyFailed,
    ConfigLoaded,
    ConfigRejected,
    ConnectionsCounted,
    Control,
    CountersRead,
    DaemonEvent,
    FactsRead,
    HandshakesSeen,
    ModeSaved,
    ProbeDone,
    RatesSampled,
    Reconcile,
    Reconciled,
    ReconcileFailed,
    Reload,
    RevertDue,
    Start,
)
from multiwan.daemon.rates import Rates
from multiwan.kernel.events import AddressingChanged, InterfaceState, NeighbourChanged

LINKS = """\
default_policy = "all"
[health]
targets = [{ kind = "icmp", host = "192.0.2.53" }]
interval = 1
fall = 2
rise = 2
[links.isp1]
interface = "wan1"
[links.isp2]
interface = "wan2"
[policies.all]
links = ["isp1", "isp2"]
"""


def facts(*interfaces: str) -> dict[str, InterfaceFacts]:
    """Each interface present on its own /24 with a gateway at .1."""
    return {
        name: InterfaceFacts(
            True, FamilyFacts(f"100.64.{n}.1", f"100.64.{n}.2", (f"100.64.{n}.0/24",)), index=n
        )
        for n, name in enumerate(interfaces, start=1)
    }


class Reply:
    """Stands in for the control session's future."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] | None = None

    def set_result(self, answer: dict[str, Any]) -> None:
        self.answer = answer


@dataclass
class Play:
    config: Config
    facts: dict[str, InterfaceFacts] = field(default_factory=lambda: facts("wan1", "wan2"))
    refuse: set[type] = field(default_factory=set)  # effects the kernel refuses
    neighbours: tuple[NeighbourChanged, ...] = ()  # the neighbour table
    next_config: Config | str | None = None  # what LoadConfig reads (str: its problem)
    t: float = 0.0
    effects: list[Effect] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = Engine(self.config)

    def send(self, event: DaemonEvent, after: float = 0.0) -> list[Effect]:
        """Hand `event` to the engine and play out every effect; the effects, in order."""
        self.t += after
        done: list[Effect] = []
        pending = deque(self.engine.handle(event, Now(self.t, 1e9 + self.t)))
        while pending:
            effect = pending.popleft()
            done.append(effect)
            if (outcome := self.outcome(effect)) is not None:
                pending.extendleft(reversed(self.engine.handle(outcome, Now(self.t, 1e9))))
        self.effects += done
        return done

    def outcome(self, effect: Effect) -> DaemonEvent | None:
        if type(effect) in self.refuse:
            if isinstance(effect, Apply):
                return ApplyFailed(effect.purpose, "refused")
            return ReconcileFailed("netlink: (19, 'No such device')")
        match effect:
            case ReadFacts(_, neighbours):
                return FactsRead(self.facts, self.neighbours if neighbours else None)
            case ApplyConfig(config, available, backends, seated):
                links = resolve_links(config, self.facts)
                desired = compile_state(config, links, available, backends, None, seated)
                fallback = dynamic_state(config, links, available, backends, None, seated).fallback
                dynamic = desired.nft.digests.dynamic
                return Reconciled(tuple(links), {}, dynamic, fallback, None)
            case Apply(_, purpose):
                return Applied(purpose, 0.001)
            case LoadConfig(reply, pending):
                if isinstance(self.next_config, str):
                    return ConfigRejected((self.next_config,), reply, pending)
                return ConfigLoaded(self.next_config or self.config, reply, pending)
            case Answer(reply, payload):
                reply.set_result(payload)
            case SaveMode(modes):
                return ModeSaved(modes, None)
            case Continue(event):
                return event
        return None

    def start(self) -> "Play":
        self.send(Start({}))
        return self

    def probe(self, link: str, ok: bool, rounds: int = 1, rtt: float = 0.01) -> list[Effect]:
        done = []
        for _ in range(rounds):
            result = ProbeRound(self.t, (TargetResult("192.0.2.53", ok, rtt if ok else None),))
            done += self.send(ProbeDone(link, result, self.engine.generation), after=1.0)
        return done

    def control(self, command: str, **args: object) -> dict[str, Any]:
        reply = Reply()
        self.send(Control(command, dict(args), reply))  # type: ignore[arg-type]
        assert reply.answer is not None, "no answer"
        return reply.answer

    def state(self, link: str) -> str:
        return self.engine.health[link].state


def of(kind: type, effects: list[Effect]) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]


def chain_text(effects: list[Effect]) -> str:
    return "".join(e.plan.nft_script for e in of(Apply, effects))


def logged(effects: list[Effect]) -> str:
    return "\n".join(e.text for e in of(Log, effects))


def test_start_applies_in_full_and_becomes_ready() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    assert [type(e) for e in play.effects] == [ReadFacts, ApplyConfig]
    assert play.engine.reconcile_error is None
    assert play.engine.applied
    assert set(play.engine.links) == {"isp1", "isp2"}
    assert play.state("isp1") == play.state("isp2") == "up"


def test_a_dead_link_leaves_by_the_fast_path_then_flush_save_and_hooks() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    assert not play.probe("isp1", ok=False)[1:]  # one failed round: not yet (fall = 2)
    effects = play.probe("isp1", ok=False)
    kinds = [type(e) for e in effects]
    assert kinds[:2] == [Apply, Apply]  # the chains, then the fallback route
    assert kinds[2:] == [Log, Flush, SaveStates, RunHooks]
    assert "pol4_all" in chain_text(effects)
    assert "isp1" not in chain_text(effects)  # no rule names isp1: its pin chain stays idle
    assert "link isp1: up -> down" in logged(effects)
    assert of(SaveStates, effects)[0].states == {"isp1": "down", "isp2": "up"}
    (hook,) = of(RunHooks, effects)
    assert (hook.event.link, hook.event.state, hook.event.gateway) == ("isp1", "down", "100.64.1.1")
    assert play.engine.transitions == {("isp1", "down"): 1}
    assert not play.probe("isp2", ok=True, rounds=3)  # a healthy link changes nothing


def test_flush_conntrack_false_keeps_a_dead_links_connections() -> None:
    text = LINKS.replace("rise = 2", "rise = 2\nflush_conntrack = false")
    play = Play(load_config_text(text, "m.toml")).start()
    assert not of(Flush, play.probe("isp1", ok=False, rounds=2))


def test_a_refused_policy_update_keeps_the_applied_digests_and_reconciles() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    before = dict(play.engine.applied)
    play.refuse.add(Apply)
    effects = play.probe("isp1", ok=False, rounds=2)
    assert play.engine.applied == before  # only what the kernel confirmed
    assert "policy update failed (refused); reconciling in full" in logged(effects)
    assert of(ScheduleReconcile, effects)
    play.refuse.clear()
    play.send(Reconcile())
    assert play.engine.applied != before  # the full reconcile loaded the change


def test_a_failed_reconcile_is_retried_with_backoff_one_pending_at_a_time() -> None:
    config = load_config_text(LINKS, "m.toml")
    play = Play(config, refuse={ApplyConfig})
    delays: list[float] = []
    for _ in range(4):
        effects = play.send(Start({}) if not delays else Reconcile())
        delays += [e.delay for e in of(ScheduleReconcile, effects)]
    base = config.daemon.reconcile_delay
    assert delays == [base * 2, base * 4, base * 8, base * 16]
    assert play.engine.reconcile_error == "netlink: (19, 'No such device')"
    # A change arriving while a retry is pending does not schedule a second one.
    changed = AddressingChanged("newroute", table=254)
    assert not play.send(changed)
    play.refuse.clear()
    play.send(Reconcile())
    assert play.engine.reconcile_error is None
    assert play.engine.reconcile_failures == 0


def test_facts_are_read_on_every_reconcile_so_a_lost_event_heals() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.facts["wan2"] = replace(play.facts["wan2"], carrier=False)  # no event seen
    effects = play.send(AddressingChanged("newaddr", ifindex=2))
    assert of(ScheduleReconcile, effects)
    effects = play.send(Reconcile())
    assert play.state("isp2") == "down"
    assert of(Flush, effects)
    assert of(RunHooks, effects)
    assert [type(e) for e in effects][-1] == ApplyConfig  # no fast path of its own


def test_reload_that_fixes_an_interface_name_revives_the_link() -> None:
    wrong = LINKS.replace('interface = "wan2"', 'interface = "wan9"')
    play = Play(load_config_text(wrong, "m.toml")).start()
    play.control("link", link="isp1", action="drain")
    assert play.state("isp2") == "absent"
    play.next_config = load_config_text(LINKS, "m.toml")
    answer = play.control("reload")
    assert answer["ok"]
    assert play.engine.generation == 1
    assert play.engine.runtime.drained == frozenset()
    assert play.state("isp2") == "down"  # present again: trusted after `rise` good rounds
    kinds = [type(e) for e in play.effects]
    assert kinds.index(RestartProbes) > kinds.index(ApplyConfig, kinds.index(LoadConfig))
    assert "reloaded: 2 links, 1 policies, 0 rules" in logged(play.effects)
    (isp2,) = [row for row in answer["result"]["links"] if row["name"] == "isp2"]
    assert isp2["state"] == "down"  # the answer shows the reconciled state
    play.probe("isp2", ok=True, rounds=2)
    assert play.state("isp2") == "up"


def test_a_rejected_reload_keeps_the_running_config_and_says_why() -> None:
    config = load_config_text(LINKS, "m.toml")
    play = Play(config, next_config="links.isp1.weight: must be at least 1").start()
    answer = play.control("reload")
    assert not answer["ok"]
    assert "links.isp1.weight" in answer["error"]
    assert play.engine.config is config
    assert play.engine.generation == 0
    play.send(Reload())  # SIGHUP: no reply, logged
    assert "reload rejected, keeping the running config" in logged(play.effects)


def test_probe_results_of_an_older_config_are_ignored() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.control("reload")
    old = ProbeRound(0.0, (TargetResult("192.0.2.53", False),))
    for _ in range(3):
        assert not play.send(ProbeDone("isp1", old, generation=0))
    assert play.state("isp1") == "up"


def test_disable_and_enable_by_the_operator() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    answer = play.control("link", link="isp1", action="disable")
    assert answer["ok"]
    assert play.state("isp1") == "disabled"
    effects = play.effects
    assert of(Flush, effects)
    assert of(RunHooks, effects)
    assert of(SaveStates, effects)[-1].states == {"isp2": "up"}  # disabled is not saved
    play.control("link", link="isp1", action="enable")
    assert play.state("isp1") == "up"


def test_drain_takes_no_new_connections_and_flushes_nothing() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.effects.clear()
    assert play.control("link", link="isp1", action="drain")["ok"]
    (apply,) = of(ApplyConfig, play.effects)
    assert apply.available.live == frozenset({"isp2"})
    assert not of(Flush, play.effects)  # its connections finish where they are
    assert play.state("isp1") == "up"


def test_bad_operator_requests_are_answered_not_raised() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    assert "unknown link" in play.control("link", link="nope", action="drain")["error"]
    assert "unknown command" in play.control("explode")["error"]
    assert play.control("weight", link="isp1", weight=5)["ok"]
    assert play.engine.config.links["isp1"].weight == 5


DEGRADED = LINKS.replace("rise = 2", 'rise = 2\ndegraded_action = "{action}"{extra}')


def degrade(action: str, extra: str = "") -> Play:
    text = DEGRADED.replace("{action}", action).replace("{extra}", extra)
    play = Play(load_config_text(text, "m.toml")).start()
    play.probe("isp1", ok=True, rounds=6, rtt=0.9)  # over degraded_latency_ms (500)
    assert play.state("isp1") == "degraded"
    return play


def test_degraded_action_last_resort_keeps_it_only_while_nothing_else_lives() -> None:
    play = degrade("last_resort")
    assert play.engine.availability().reserve == frozenset({"isp1"})
    assert "isp1" not in chain_text(play.effects[-10:])
    play.probe("isp2", ok=False, rounds=2)
    assert "isp1" in chain_text(play.effects[-10:])  # the last link standing


def test_degraded_action_keep_and_weight() -> None:
    assert degrade("keep").engine.availability().live == frozenset({"isp1", "isp2"})
    weighted = degrade("weight", "\ndegraded_weight = 1").engine.availability()
    assert weighted.live == frozenset({"isp1", "isp2"})
    assert weighted.weights == {"isp1": 1}


SERVICE = """\
[services.web]
listen = ["198.51.100.1"]
ports = [80]
flush_on_down = true
backends = [{ address = "10.0.0.1" }, { address = "10.0.0.2" }]
"""


def test_all_backends_down_is_a_warning_and_each_is_flushed() -> None:
    play = Play(load_config_text(SERVICE, "m.toml"), facts={}).start()
    failed = ProbeRound(0.0, (TargetResult("10.0.0.1:80", False),))
    effects: list[Effect] = []
    for key in ("10.0.0.1:80", "10.0.0.2:80"):
        for _ in range(2):
            effects += play.send(ProbeDone(key, failed, 0, "web"), after=1.0)
    assert [(f.address, f.port) for f in of(FlushBackend, effects)] == [
        ("10.0.0.1", None),
        ("10.0.0.2", None),
    ]
    warnings = [e.text for e in of(Log, effects) if e.level == WARNING]
    assert [w for w in warnings if "backend left" in w] == [
        "service web: no backend left; new connections are rejected"
    ]
    assert sum("up -> down" in w for w in warnings) == 2  # entering trouble warns
    assert play.engine.backends_live() == {"web": set()}


def test_an_interface_event_takes_a_link_down_at_once_and_back_after_rise() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    effects = play.send(InterfaceState("wan1", present=False))
    assert play.state("isp1") == "absent"
    assert of(Apply, effects)
    effects = play.send(InterfaceState("wan1", present=True, admin_up=True, carrier=True))
    assert play.state("isp1") == "down"
    assert of(ScheduleReconcile, effects)
    play.probe("isp1", ok=True, rounds=2)
    assert play.state("isp1") == "up"


POLICIES = (
    LINKS
    + """\
[policies.backup-only]
links = ["isp2"]
"""
)


def test_a_persisted_mode_is_saved_resumed_at_start_and_kept_by_reload() -> None:
    config = load_config_text(POLICIES, "m.toml")
    play = Play(config).start()
    assert play.control("mode", mode="backup-only", persist=True)["ok"]
    play.control("mode", mode="failover", persist=True)
    saved = of(SaveMode, play.effects)
    assert [s.modes for s in saved] == [("backup-only",), ("backup-only", "failover")]
    answer = play.control("status")["result"]
    assert answer["persisted_mode"] == ["backup-only", "failover"]

    restarted = Play(config)
    restarted.send(Start({}, ("backup-only", "failover")))
    assert restarted.engine.config.default_policy == "backup-only"
    assert restarted.engine.config.policies["backup-only"].strategy == "failover"
    restarted.control("mode", mode="all")  # not persisted: ends with the reload
    restarted.control("reload")
    assert restarted.engine.config.default_policy == "backup-only"
    assert "persisted mode in force: backup-only, failover" in logged(restarted.effects)


def test_mode_config_persisted_forgets_and_a_stale_persisted_mode_is_left_out() -> None:
    config = load_config_text(POLICIES, "m.toml")
    play = Play(config)
    play.send(Start({}, ("gone", "failover")))
    assert "persisted mode left out: unknown mode 'gone'" in logged(play.effects)
    assert play.engine.config.policies["all"].strategy == "failover"
    play.control("mode", mode="config", persist=True)
    assert of(SaveMode, play.effects)[-1].modes == ()
    assert play.engine.config is config


POOL = LINKS.replace(
    "[policies.all]", '[policies.all]\nstrategy = "least-loaded"\nreturn_home = true'
)
LAN = 9  # the LAN interface's index (not an uplink)


def host(n: int, present: bool = True) -> NeighbourChanged:
    return NeighbourChanged(LAN, f"10.9.0.{n}", f"02:00:00:00:00:{n:02x}", present)


def seats(play: Play) -> dict[str, str]:
    return {
        c: s.link
        for c, s in play.engine.pools.seats["all"].items()
        if c in play.engine.pools.clients
    }


def test_least_loaded_seats_clients_rehomes_them_and_brings_them_home() -> None:
    play = Play(load_config_text(POOL, "m.toml")).start()
    for n in range(1, 5):
        play.send(host(n))
    assert sorted(seats(play).values()) == ["isp1", "isp1", "isp2", "isp2"]
    chain = chain_text(play.effects)
    assert "ip saddr vmap {" in chain and "10.9.0.1 : goto mark_isp1" in chain  # noqa: PT018
    homes = seats(play)
    play.probe("isp1", ok=False, rounds=2)
    assert set(seats(play).values()) == {"isp2"}
    assert "policy all: seated" in logged(play.effects[-12:])
    play.probe("isp1", ok=True, rounds=2)
    assert seats(play) == homes  # return_home
    assert of(SaveSeats, play.effects)


def test_a_host_on_an_uplink_or_link_local_is_no_client_and_a_gone_one_frees_its_seat() -> None:
    play = Play(load_config_text(POOL, "m.toml")).start()
    play.send(NeighbourChanged(1, "100.64.1.1", "02:aa:00:00:00:01", True))  # isp1's gateway
    play.send(NeighbourChanged(LAN, "fe80::1", "02:00:00:00:00:01", True))
    assert play.engine.pools.clients == {}
    play.send(host(1))
    play.send(NeighbourChanged(LAN, "fd09::1", "02:00:00:00:00:01", True))  # same host, IPv6
    assert play.engine.pools.clients == {"02:00:00:00:00:01": {"10.9.0.1", "fd09::1"}}
    assert "ip6 saddr vmap" not in chain_text(play.effects)  # no link routes IPv6 here
    play.send(host(1, present=False))
    play.send(NeighbourChanged(LAN, "fd09::1", None, False))
    assert play.engine.pools.clients == {}


def test_seats_survive_a_restart_and_the_neighbour_table_is_read_at_start() -> None:
    config = load_config_text(POOL, "m.toml")
    play = Play(config).start()
    for n in range(1, 4):
        play.send(host(n))
    saved = of(SaveSeats, play.effects)[-1].seats
    restarted = Play(config, neighbours=(host(3), host(2), host(1)))
    restarted.send(Start({}, (), saved))
    assert seats(restarted) == seats(play)


def test_reload_confirm_reverts_to_the_previous_config_unless_confirmed() -> None:
    old, new = load_config_text(LINKS, "m.toml"), load_config_text(POLICIES, "m.toml")
    play = Play(old, next_config=new).start()
    done = len(play.effects)
    answer = play.control("reload_confirm", seconds=30)
    assert answer["ok"]
    assert answer["result"]["awaiting_confirmation"] == {"revert_in": 30.0}
    effects = play.effects[done:]
    (revert,) = of(ScheduleRevert, effects)
    assert (revert.delay, revert.pending.previous) == (30.0, old)
    assert "reloaded; reverting in 30 s unless confirmed (multiwan confirm)" in logged(effects)
    kinds = [type(e) for e in effects]
    assert kinds.index(ApplyConfig) < kinds.index(ScheduleRevert) < kinds.index(Answer)
    assert play.engine.file_config is new
    assert play.send(RevertDue(revert.pending), after=10) == []  # not yet
    reverted = play.send(RevertDue(revert.pending), after=25)
    assert play.engine.file_config is old
    assert logged(reverted).startswith("change not confirmed in time: reverting")
    assert of(ApplyConfig, reverted)


def test_a_confirmed_reload_stays_and_a_rejected_one_leaves_nothing_pending() -> None:
    old, new = load_config_text(LINKS, "m.toml"), load_config_text(POLICIES, "m.toml")
    play = Play(old, next_config=new).start()
    play.control("reload_confirm", seconds=30)
    pending = of(ScheduleRevert, play.effects)[-1].pending
    assert play.control("confirm")["ok"]
    assert "change confirmed: it stays" in logged(play.effects)
    assert play.send(RevertDue(pending), after=60) == []
    assert play.engine.file_config is new
    assert play.control("confirm") == {"ok": False, "error": "no change awaits confirmation"}
    play.next_config = "links.isp1: bad"
    answer = play.control("reload_confirm", seconds=30)
    assert answer == {
        "ok": False,
        "error": "reload rejected, keeping the running config: links.isp1: bad",
    }
    assert play.engine.confirmation.pending is None
    assert play.control("reload_confirm", seconds=0)["error"].startswith("confirm within 1-")


def test_the_log_lists_state_changes_with_their_time_and_reason() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.probe("isp1", ok=False, rounds=2)
    (change,) = play.control("log")["result"]
    assert change == {
        "time": 1e9 + 2.0, "link": "isp1", "previous": "up", "state": "down",
        "reason": "2 rounds failed: 192.0.2.53 failed",
    }  # fmt: skip


def test_counters_feed_status_and_the_metrics_view() -> None:
    play = Play(load_config_text(LINKS + '[[rules]]\nname = "web"\nvia = "isp2"\n', "m.toml"))
    play.start()
    listing: list[dict[str, Any]] = [
        {"counter": {"name": "new_isp1", "packets": 5}},
        {"counter": {"name": "rule_0", "packets": 7}},
        {"counter": {"name": "svc_web_rejected", "packets": 2}},
        {"metainfo": {}},
    ]
    assert play.send(CountersRead(listing)) == []
    assert play.engine.rejected == {"web": 2}
    assert play.engine.rule_hits == {0: 7}
    published = play.engine.published
    assert published is not None
    assert published.new_connections == {"isp1": 5}
    rules = play.control("status")["result"]["rules"]
    assert rules == [{"index": 0, "name": "web", "via": "isp2", "connections": 7}]
    play.send(ConnectionsCounted({play.engine.links["isp1"].mark: 3}))
    rows = {row["name"]: row for row in play.control("status")["result"]["links"]}
    assert (rows["isp1"]["connections"], rows["isp1"]["share_pct"]) == (3, 100.0)


def passive_play(extra: str) -> Play:
    text = LINKS.replace("rise = 2", f"rise = 2\npassive = true\n{extra}")
    return Play(load_config_text(text, "m.toml")).start()


def unanswered(at: float, *destinations: str) -> tuple[Handshake, ...]:
    return tuple(Handshake(at, d, answered=False) for d in destinations)


def test_users_unanswered_connections_take_a_link_down_with_passive_down() -> None:
    play = passive_play("passive_down = true")
    mark = play.engine.links["isp1"].mark
    assert play.engine.passive_watch() == {mark: 1.0, play.engine.links["isp2"].mark: 1.0}
    assert not play.send(HandshakesSeen({mark: unanswered(1.0, "192.0.2.1", "192.0.2.2")}))
    effects = play.send(HandshakesSeen({mark: unanswered(1.1, "192.0.2.3")}), after=0.1)
    text = logged(effects)
    assert text.index("link isp1: passive alarm: new connections to 3 destinations") < text.index(
        "link isp1: up -> down (passive: new connections to 3 destinations unanswered"
    )
    assert "taking it down" in text
    assert "isp1" not in chain_text(effects)  # out of the balance at once
    assert of(Flush, effects)
    assert [e.link for e in of(ProbeNow, effects)] == ["isp1"]
    assert play.state("isp1") == "down"
    assert play.engine.status(Now(play.t, 1e9))["links"][0]["passive"]["alarms"] == 1  # type: ignore[index]
    assert not play.probe("isp1", ok=True)[1:]  # back only after rise = 2 good rounds
    assert "link isp1: down -> up (2 good rounds)" in logged(play.probe("isp1", ok=True))


def test_without_passive_down_the_alarm_only_hastens_the_probes() -> None:
    play = passive_play("fast_interval = 0.2")
    mark = play.engine.links["isp2"].mark
    effects = play.send(HandshakesSeen({mark: unanswered(1.0, "a", "b", "c")}))
    assert (
        "link isp2: passive alarm: new connections to 3 destinations unanswered (a, b, c); "
        "probing it at once" in logged(effects)
    )
    assert [e.link for e in of(ProbeNow, effects)] == ["isp2"]
    assert not of(Apply, effects)
    assert play.state("isp2") == "up"
    assert play.engine.health["isp2"].suspect
    assert "link isp2: up -> down (2 rounds failed" in logged(
        play.probe("isp2", ok=False, rounds=2)
    )


def test_one_dead_server_and_unwatched_links_change_nothing() -> None:
    play = passive_play("passive_down = true")
    mark = play.engine.links["isp1"].mark
    for at in range(20):
        assert not play.send(HandshakesSeen({mark: unanswered(at, "192.0.2.9")}), after=1.0)
    assert not play.send(HandshakesSeen({0x7700: unanswered(30.0, "a", "b", "c")}))
    plain = Play(load_config_text(LINKS, "m.toml")).start()
    assert plain.engine.passive_watch() == {}
    isp1 = plain.engine.links["isp1"].mark
    assert not plain.send(HandshakesSeen({isp1: unanswered(1.0, "a", "b", "c")}))
    assert plain.state("isp1") == "up"


def rates(rx_kbit: float, tx_kbit: float) -> Rates:
    return Rates(rx_kbit, tx_kbit, 0.0, 0.0, 0, 0)


def test_a_link_that_sent_packets_and_received_none_is_probed_at_once() -> None:
    """traffic_signal: one second of packets out and none in (the rates' packet counts)."""
    text = LINKS.replace("rise = 2", "rise = 2\ntraffic_signal = true")
    play = Play(load_config_text(text, "m.toml")).start()
    silent = Rates(0.0, 12.0, 0.0, 14.0, 0, 0)
    effects = play.send(RatesSampled({"isp1": silent, "isp2": Rates(9, 9, 3.0, 3.0, 0, 0)}), 1)
    assert logged(effects) == (
        "link isp1: traffic signal: sent 14 packets/s, received none; probing it at once"
    )
    assert [e.link for e in of(ProbeNow, effects)] == ["isp1"]


def test_a_link_that_sends_but_hardly_receives_is_probed_at_once() -> None:
    text = LINKS.replace("rise = 2", "rise = 2\ntraffic_floor_kbit = 64\ntraffic_floor_seconds = 2")
    play = Play(load_config_text(text, "m.toml")).start()
    quiet = RatesSampled({"isp1": rates(1, 100), "isp2": rates(900, 100)})
    assert not play.send(quiet, after=1.0)
    effects = play.send(quiet, after=1.0)
    assert logged(effects) == (
        "link isp1: traffic floor: received 1 kbit/s < 64 while sending 100 kbit/s for 2 s; "
        "probing it at once"
    )
    assert [e.link for e in of(ProbeNow, effects)] == ["isp1"]
    assert play.engine.health["isp1"].suspect
    assert play.state("isp1") == "up"
    links: list[dict[str, Any]] = play.engine.status(Now(play.t, 1e9))["links"]  # type: ignore[assignment]
    assert [link["peak_rx_kbit_s"] for link in links] == [1.0, 900.0]
