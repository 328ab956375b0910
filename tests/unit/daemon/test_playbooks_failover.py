"""Failover playbooks on what the engine hands the executor: the exact flushes, hooks and
counts of a state change, connections sent to main while every link was down, a reconcile
that finds an interface gone, and what a reload keeps."""

from logging import ERROR, INFO, WARNING

from multiwan.config.load import load_config_text
from multiwan.core.links import FamilyFacts, InterfaceFacts
from multiwan.core.linkstate import ProbeRound, TargetResult
from multiwan.core.ownership import MarkSpace
from multiwan.core.passive import Handshake
from multiwan.core.services import backend_counter
from multiwan.daemon.effects import (
    Apply,
    ApplyConfig,
    Flush,
    Log,
    ProbeNow,
    ReadFacts,
    RunHooks,
    ScheduleReconcile,
)
from multiwan.daemon.engine import Engine
from multiwan.daemon.events import (
    Control,
    CountersRead,
    HandshakesSeen,
    ModeSaved,
    ProbeDone,
    RatesSampled,
    Reconcile,
    Reconciled,
    ReconcileFailed,
    Reload,
    Start,
)
from multiwan.daemon.hooks import HookEvent
from multiwan.daemon.metrics import EngineCollector
from multiwan.daemon.rates import Rates
from multiwan.kernel.events import InterfaceState, Resync
from tests.unit.daemon.test_playbooks import (
    LINKS,
    POLICIES,
    POOL,
    SERVICE,
    Play,
    facts,
    host,
    logged,
    of,
)

MASK = MarkSpace(load_config_text(LINKS, "m.toml").mark_mask)


def test_a_link_going_down_flushes_its_own_mark_and_runs_the_hooks_exactly() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    mark = play.engine.links["isp1"].mark
    effects = play.probe("isp1", ok=False, rounds=2)
    assert of(Flush, effects) == [Flush("isp1", mark, MASK.mask)]
    daemon = play.engine.config.daemon
    assert of(RunHooks, effects) == [RunHooks(
        HookEvent("isp1", "down", "up", "wan1", "100.64.1.1"), daemon.hooks_dir,
        daemon.hook_timeout,
    )]  # fmt: skip


def test_a_link_without_a_gateway_hands_the_hooks_none() -> None:
    links = facts("wan1", "wan2")
    links["wan1"] = InterfaceFacts(True, FamilyFacts(None, "100.64.1.2", ("100.64.1.0/24",)))
    play = Play(load_config_text(LINKS, "m.toml"), links).start()
    (hook,) = of(RunHooks, play.probe("isp1", ok=False, rounds=2))
    assert (hook.event.interface, hook.event.gateway) == ("wan1", "")


def test_an_interface_gone_is_absent_and_flushed() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    effects = play.send(InterfaceState("wan2", present=False, carrier=False, admin_up=False))
    assert "link isp2: up -> absent (interface gone)" in logged(effects)
    assert of(Flush, effects) == [Flush("isp2", play.engine.links["isp2"].mark, MASK.mask)]


def test_transitions_and_updates_are_counted_for_the_metrics() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    for _ in range(2):
        play.probe("isp1", ok=False, rounds=2)
        play.probe("isp1", ok=True, rounds=2)
    assert play.engine.transitions == {("isp1", "down"): 2, ("isp1", "up"): 2}
    play.send(CountersRead([]))
    published = play.engine.published
    assert published is not None
    assert published.apply_count == 4  # each change: the chains, then the fallback route
    assert abs(published.apply_seconds - 4 * 0.002) < 1e-9


def test_connections_sent_to_main_while_all_links_were_down_are_flushed_on_return() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.probe("isp1", ok=False, rounds=2)
    play.probe("isp2", ok=False, rounds=2)  # the policy's last resort (main) takes them now
    effects = play.probe("isp1", ok=True, rounds=2)
    assert Flush("last resort", MASK.last_resort, MASK.mask) in effects
    assert not of(Flush, play.probe("isp2", ok=True, rounds=2))  # nothing went to main since


def test_flush_last_resort_false_keeps_them() -> None:
    text = LINKS.replace('links = ["isp1", "isp2"]', 'links = ["isp1", "isp2"]\n'
                         "flush_last_resort = false")  # fmt: skip
    play = Play(load_config_text(text, "m.toml")).start()
    play.probe("isp1", ok=False, rounds=2)
    play.probe("isp2", ok=False, rounds=2)
    assert not of(Flush, play.probe("isp1", ok=True, rounds=2))


def test_links_start_from_the_states_the_last_run_saved() -> None:
    play = Play(load_config_text(LINKS, "m.toml"))
    play.send(Start({"isp1": "down"}))
    assert (play.state("isp1"), play.engine.health["isp1"].reason) == ("down", "resuming as down")
    assert play.state("isp2") == "up"


def test_a_reconcile_that_finds_interfaces_gone_changes_them_without_a_fast_path() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.facts = {}
    effects = play.send(Reconcile())
    assert effects[0] == ReadFacts(("wan1", "wan2"), neighbours=False)
    assert not of(Apply, effects)  # the full apply that follows carries the change
    assert [e for e in of(Log, effects) if "->" in e.text] == [
        Log(WARNING, "link isp1: up -> absent (interface gone)", {
            "link": "isp1", "state": "absent", "previous": "up", "reason": "interface gone"}),
        Log(WARNING, "link isp2: up -> absent (interface gone)", {
            "link": "isp2", "state": "absent", "previous": "up", "reason": "interface gone"}),
    ]  # fmt: skip
    (apply,) = of(ApplyConfig, effects)
    assert apply.available.live == frozenset()


def test_a_reload_keeps_what_the_traffic_said_about_the_links_it_keeps() -> None:
    text = LINKS.replace("rise = 2", "rise = 2\npassive = true")
    play = Play(load_config_text(text, "m.toml")).start()
    mark = play.engine.links["isp1"].mark
    play.send(HandshakesSeen({mark: (Handshake(1.0, "192.0.2.9", answered=False),)}))
    play.send(RatesSampled({"isp1": Rates(800.0, 30.0, 0.0, 0.0, 0, 0)}))
    play.next_config = load_config_text(text, "m.toml")
    play.send(Reload())
    (isp1, _) = play.control("status")["result"]["links"]
    assert isp1["passive"]["unanswered"] == 1
    assert (isp1["peak_rx_kbit_s"], isp1["peak_tx_kbit_s"]) == (800.0, 30.0)


def test_a_backend_keeps_its_state_over_a_reconcile() -> None:
    play = Play(load_config_text(SERVICE, "m.toml"), facts={}).start()
    failed = ProbeRound(play.t, (TargetResult("10.0.0.1:80", False),))
    for _ in range(2):
        play.send(ProbeDone("10.0.0.1:80", failed, play.engine.generation, "web"), after=1.0)
    since = play.engine.backends[("web", "10.0.0.1:80")].since
    (apply,) = of(ApplyConfig, play.send(Reconcile(), after=5.0))
    assert apply.backends == {"web": {"10.0.0.2:80"}}  # the full apply leaves it out
    backend = play.engine.backends[("web", "10.0.0.1:80")]
    assert (backend.state, backend.since) == ("down", since)
    other = play.engine.backends[("web", "10.0.0.2:80")]
    assert (other.state, other.since, other.reason) == ("up", 0.0, "starting")


def test_a_change_that_moves_no_policy_says_so_with_the_links_fields() -> None:
    text = LINKS + '[links.isp3]\ninterface = "wan3"\n'
    play = Play(load_config_text(text, "m.toml"), facts("wan1", "wan2", "wan3")).start()
    effects = play.probe("isp3", ok=False, rounds=2)
    reason = "2 rounds failed: 192.0.2.53 failed"
    assert of(Log, effects)[0] == Log(
        WARNING, f"link isp3: up -> down ({reason}); no policy changed",
        {"link": "isp3", "state": "down", "previous": "up", "reason": reason},
    )  # fmt: skip


def test_a_reconcile_that_changed_something_says_what() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    links = tuple(play.engine.links.values())
    effects = play.send(Reconciled(links, {}, play.engine.applied, play.engine.fallback, "2 rules"))
    assert effects == [Log(INFO, "reconciled: 2 rules")]


ONE_PROBED = """\
default_policy = "all"
[links.isp1]
interface = "wan1"
health = { targets = [{ kind = "icmp", host = "192.0.2.53" }], interval = 1, fall = 2, \
rise = 2, passive = true, traffic_floor_kbit = 64, traffic_floor_seconds = 1 }
[links.isp2]
interface = "wan2"
[policies.all]
links = ["isp1", "isp2"]
"""


def unanswered(*destinations: str) -> tuple[Handshake, ...]:
    return tuple(Handshake(1.0, d, answered=False) for d in destinations)


def test_a_passive_alarm_is_logged_with_its_fields_past_an_unprobed_link() -> None:
    play = Play(load_config_text(ONE_PROBED, "m.toml")).start()
    marks = {name: link.mark for name, link in play.engine.links.items()}
    effects = play.send(HandshakesSeen({
        marks["isp2"]: unanswered("a", "b", "c"),  # not probed: not watched
        marks["isp1"]: unanswered("a", "b", "c"),
    }))  # fmt: skip
    alarm = "new connections to 3 destinations unanswered (a, b, c)"
    assert of(Log, effects) == [
        Log(WARNING, f"link isp1: passive alarm: {alarm}; probing it at once",
            {"link": "isp1", "passive": alarm}),
    ]  # fmt: skip
    assert [e.link for e in of(ProbeNow, effects)] == ["isp1"]


def test_a_traffic_floor_alarm_is_logged_with_its_fields_past_a_link_without_one() -> None:
    play = Play(load_config_text(ONE_PROBED, "m.toml")).start()
    quiet = Rates(1.0, 100.0, 0.0, 0.0, 0, 0)
    effects = play.send(RatesSampled({"isp2": quiet, "gone": quiet, "isp1": quiet}))
    alarm = "traffic floor: received 1 kbit/s < 64 while sending 100 kbit/s for 1 s"
    assert of(Log, effects) == [
        Log(WARNING, f"link isp1: {alarm}; probing it at once",
            {"link": "isp1", "traffic": alarm}),
    ]  # fmt: skip
    assert [e.link for e in of(ProbeNow, effects)] == ["isp1"]


def test_a_down_link_raises_no_alarm() -> None:
    play = Play(load_config_text(ONE_PROBED, "m.toml")).start()
    play.probe("isp1", ok=False, rounds=2)
    mark = play.engine.links["isp1"].mark
    assert play.send(HandshakesSeen({mark: unanswered("a", "b", "c")})) == []
    assert play.send(RatesSampled({"isp1": Rates(1.0, 100.0, 0.0, 0.0, 0, 0)})) == []


def test_an_operator_drains_a_backend_and_sees_it_in_status() -> None:
    play = Play(load_config_text(SERVICE, "m.toml"), facts={}).start()
    answer = play.control("backend", service="web", backend="10.0.0.1:80", action="drain")
    assert answer["ok"]
    (apply,) = of(ApplyConfig, play.effects[-4:])
    assert apply.backends == {"web": {"10.0.0.2:80"}}  # no new connections to it
    play.send(CountersRead([{"counter": {"name": backend_counter("web", 0), "packets": 3}}]))
    rows = play.control("status")["result"]["services"]["web"]["backends"]
    assert [(r["backend"], r["drained"], r["taking_new"], r["connections"]) for r in rows] == [
        ("10.0.0.1:80", True, False, 3), ("10.0.0.2:80", False, True, 0),
    ]  # fmt: skip
    play.control("backend", service="web", backend="10.0.0.1:80", action="undrain")
    assert play.engine.runtime.drained_backends == frozenset()
    assert play.control("backend", service="web", backend="10.0.0.9:80", action="drain") == {
        "ok": False, "error": "unknown backend '10.0.0.9:80': expected one of 10.0.0.1:80, "
        "10.0.0.2:80",
    }  # fmt: skip


def test_the_log_and_confirm_answers() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    assert play.control("log") == {"ok": True, "result": []}
    play.control("reload_confirm", seconds=30)
    effects = play.send(Control("confirm", {}, None))  # type: ignore[arg-type]
    assert effects == [Log(INFO, "change confirmed: it stays")]


def test_lost_events_a_failed_reconcile_and_the_saved_mode_are_said() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    delay = play.engine.config.daemon.reconcile_delay
    assert play.send(Resync()) == [ScheduleReconcile(delay)]
    assert play.send(Resync()) == []  # one pending at a time
    play.send(Reconcile())
    assert play.send(ReconcileFailed("netlink: busy")) == [
        Log(ERROR, "reconcile failed, kernel left as it was (retrying): netlink: busy"),
        ScheduleReconcile(2 * delay),
    ]
    assert play.send(ModeSaved(("all", "failover"), None)) == [
        Log(INFO, "mode persisted: all, failover")
    ]
    assert play.send(ModeSaved((), None)) == [Log(INFO, "mode persisted: none")]
    assert play.send(ModeSaved(("all", "failover"), "disk full")) == [
        Log(ERROR, "could not persist the mode all, failover: disk full")
    ]
    assert play.send(ModeSaved((), "disk full")) == [
        Log(ERROR, "could not persist the mode none: disk full")
    ]


def test_a_daemon_before_its_first_apply_is_not_ready_and_shows_no_metrics() -> None:
    engine = Engine(load_config_text(LINKS, "m.toml"))
    assert engine.reconcile_error == "not applied yet"  # the not-ready reason status shows
    assert list(EngineCollector(engine).collect()) == []


def test_a_passive_takedown_says_so_after_a_link_without_an_alarm() -> None:
    text = LINKS.replace("rise = 2", "rise = 2\npassive = true\npassive_down = true")
    play = Play(load_config_text(text, "m.toml")).start()
    marks = {name: link.mark for name, link in play.engine.links.items()}
    effects = play.send(HandshakesSeen({
        marks["isp2"]: unanswered("a"),  # watched, one destination: no alarm
        marks["isp1"]: unanswered("a", "b", "c"),
    }))  # fmt: skip
    alarm = "new connections to 3 destinations unanswered (a, b, c)"
    assert of(Log, effects)[0] == Log(
        WARNING, f"link isp1: passive alarm: {alarm}; taking it down",
        {"link": "isp1", "passive": alarm},
    )  # fmt: skip
    assert play.state("isp1") == "down"


def test_a_reload_says_what_it_loaded_and_the_mode_kept() -> None:
    play = Play(load_config_text(POLICIES, "m.toml")).start()
    play.control("mode", mode="backup-only", persist=True)
    effects = play.send(Reload())
    assert Log(INFO, "reloaded: 2 links, 2 policies, 0 rules; persisted mode in force: "
               "backup-only") in effects  # fmt: skip


def test_the_log_keeps_the_last_200_changes() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    for _ in range(101):
        play.probe("isp1", ok=False, rounds=2)
        play.probe("isp1", ok=True, rounds=2)
    changes = play.control("log")["result"]
    assert len(changes) == 200
    assert changes[-1]["state"] == "up"


def test_a_new_client_is_seated_said_and_kept_by_the_next_full_apply() -> None:
    play = Play(load_config_text(POOL, "m.toml")).start()
    effects = play.send(host(1))
    seat = "policy all: seated 02:00:00:00:00:01 on "
    (line,) = [e for e in of(Log, effects) if e.text.startswith(seat)]
    assert line.level == INFO
    assert [e.text.split(";")[0] for e in of(Log, effects) if ";" in e.text] == ["clients changed"]
    (apply,) = of(ApplyConfig, play.send(Reconcile()))
    assert apply.seated == play.engine.pools.seated(play.engine.config)
    assert apply.seated  # the seat is in the full apply too, not only in the fast path


def test_the_fast_path_keeps_the_local_source_the_reconcile_found() -> None:
    """The router's own unbound sockets leave from its LAN address (`local_source = auto`),
    also on the fallback route a state change rewrites."""
    play = Play(load_config_text(LINKS, "m.toml")).start()
    links = tuple(play.engine.links.values())
    play.send(Reconciled(links, {4: "192.168.1.1"}, play.engine.applied, play.engine.fallback,
                         None))  # fmt: skip
    _, routes = of(Apply, play.probe("isp1", ok=False, rounds=2))
    assert [(r.dev, r.src) for r in routes.plan.route_adds] == [("wan2", "192.168.1.1")]


def test_least_loaded_seats_on_a_degraded_link_only_when_nothing_else_lives() -> None:
    play = Play(load_config_text(POOL, "m.toml")).start()
    play.probe("isp1", ok=True, rounds=6, rtt=0.9)  # over degraded_latency_ms: reserve
    assert play.state("isp1") == "degraded"
    for n in (1, 2):
        play.send(host(n))
    seated = play.engine.pools.seats["all"]
    assert {seated[c].link for c in play.engine.pools.clients} == {"isp2"}
    play.probe("isp2", ok=False, rounds=2)
    seated = play.engine.pools.seats["all"]
    assert {seated[c].link for c in play.engine.pools.clients} == {"isp1"}


def test_least_loaded_seats_by_the_weight_a_degraded_link_is_given() -> None:
    text = POOL.replace("rise = 2", 'rise = 2\ndegraded_action = "weight"\ndegraded_weight = 1')
    text = text.replace('[links.isp2]\ninterface = "wan2"', '[links.isp2]\ninterface = "wan2"\n'
                        "weight = 3")  # fmt: skip
    play = Play(load_config_text(text, "m.toml")).start()
    play.probe("isp2", ok=True, rounds=6, rtt=0.9)
    assert play.state("isp2") == "degraded"  # weight 3 -> 1, like isp1's
    for n in range(1, 5):
        play.send(host(n))
    seated = play.engine.pools.seats["all"]
    assert sorted(seated[c].link for c in play.engine.pools.clients) == [
        "isp1", "isp1", "isp2", "isp2",
    ]  # fmt: skip
