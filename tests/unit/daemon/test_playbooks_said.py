"""Playbooks for what the engine says: log lines with their priority and journal fields
(README: `journalctl -p warning`, `LINK=`, `SERVICE=`), the history `multiwan log` shows, and
what it does around failed steps, interface events, reloads and confirm windows."""

from multiwan.config.load import load_config_text
from multiwan.core.linkstate import ProbeRound, TargetResult
from multiwan.daemon.effects import (
    Apply,
    Effect,
    Flush,
    FlushBackend,
    Log,
    RunHooks,
    SaveStates,
    ScheduleRevert,
)
from multiwan.daemon.engine import ERROR, INFO, WARNING
from multiwan.daemon.events import (
    ApplyFailed,
    ConfigRejected,
    DaemonEvent,
    FallbackUpdate,
    ProbeDone,
    RevertDue,
)
from multiwan.kernel.events import InterfaceState
from tests.unit.daemon.test_playbooks import LINKS, POLICIES, SERVICE, Play, of


def logs(effects: list[Effect]) -> list[tuple[int, str]]:
    return [(e.level, e.text) for e in of(Log, effects)]


DOWN = "link isp1: up -> down (2 rounds failed: 192.0.2.53 failed)"
DOWN_FIELDS = {
    "link": "isp1",
    "state": "down",
    "previous": "up",
    "reason": "2 rounds failed: 192.0.2.53 failed",
}


def test_a_state_change_is_one_line_with_what_was_updated_and_how_fast() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    effects = play.probe("isp1", ok=False, rounds=2)
    (line,) = of(Log, effects)
    assert line == Log(WARNING, f"{DOWN}; updated pol4_all, fallback route in 2.0 ms", DOWN_FIELDS)
    assert (play.engine.apply_count, play.engine.apply_seconds) == (1, 0.002)


class RefuseRoutes(Play):
    """The kernel takes the nft step and refuses the fallback route step after it."""

    def outcome(self, effect: Effect) -> DaemonEvent | None:
        if isinstance(effect, Apply) and isinstance(effect.purpose, FallbackUpdate):
            return ApplyFailed(effect.purpose, "No such device")
        return super().outcome(effect)


def test_a_refused_fallback_route_after_the_chains_is_logged_and_reconciled() -> None:
    play = RefuseRoutes(load_config_text(LINKS, "m.toml")).start()
    routes = play.engine.fallback
    effects = play.probe("isp1", ok=False, rounds=2)
    # The chains moved the traffic (counted once); the route step is retried in full.
    assert of(Log, effects) == [
        Log(WARNING, f"{DOWN}; updated pol4_all in 1.0 ms", DOWN_FIELDS),
        Log(ERROR, "policy update failed (No such device); reconciling in full"),
    ]
    assert play.engine.apply_count == 1
    assert play.engine.fallback == routes  # still what the kernel holds


def test_a_refused_chain_update_is_logged_at_the_changes_level() -> None:
    play = Play(load_config_text(LINKS, "m.toml"), refuse={Apply}).start()
    effects = play.probe("isp1", ok=False, rounds=2)
    assert of(Log, effects)[:2] == [
        Log(WARNING, f"{DOWN}; update not applied", DOWN_FIELDS),
        Log(ERROR, "policy update failed (refused); reconciling in full"),
    ]
    assert play.engine.apply_count == 0


def _backends() -> Play:
    text = SERVICE.replace('{ address = "10.0.0.2" }', '{ address = "10.0.0.2", port = 8080 }')
    return Play(load_config_text(text, "m.toml"), facts={}).start()


def _backend_round(play: Play, key: str, ok: bool) -> list[Effect]:
    result = ProbeRound(play.t, (TargetResult(key, ok, 0.01 if ok else None),))
    effects: list[Effect] = []
    for _ in range(2):
        effects += play.send(ProbeDone(key, result, play.engine.generation, "web"), after=1.0)
    return effects


def test_backend_changes_carry_their_fields_and_warn_only_when_none_is_left() -> None:
    play = _backends()
    first = _backend_round(play, "10.0.0.1:80", ok=False)
    assert of(Log, first)[0] == Log(
        WARNING,
        "service web: backend 10.0.0.1:80 up -> down (2 rounds failed: 10.0.0.1:80 failed); "
        "updated svc_web in 1.0 ms",
        {"service": "web", "backend": "10.0.0.1:80", "state": "down", "previous": "up",
         "reason": "2 rounds failed: 10.0.0.1:80 failed"},
    )  # fmt: skip
    assert not any("no backend left" in text for _, text in logs(first))  # one is left
    assert of(FlushBackend, first) == [FlushBackend("10.0.0.1", "tcp", None)]
    last = _backend_round(play, "10.0.0.2:8080", ok=False)
    assert (WARNING, "service web: no backend left; new connections are rejected") in logs(last)
    assert of(FlushBackend, last) == [FlushBackend("10.0.0.2", "tcp", 8080)]
    back = _backend_round(play, "10.0.0.2:8080", ok=True)
    assert not of(FlushBackend, back)  # only a backend going down is flushed
    assert [(c["link"], c["state"]) for c in play.control("log")["result"]] == [
        ("web/10.0.0.1:80", "down"),
        ("web/10.0.0.2:8080", "down"),
        ("web/10.0.0.2:8080", "up"),
    ]


def test_interface_events_concern_only_their_links_and_need_carrier_and_admin_up() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.t = 5.0
    effects = play.send(InterfaceState("wan1", present=True, admin_up=False, carrier=True))
    assert play.state("isp1") == "down"
    assert play.state("isp2") == "up"
    assert play.engine.health["isp1"].since == 5.0  # status: down since then
    assert of(SaveStates, effects)[-1].states == {"isp1": "down", "isp2": "up"}
    effects = play.send(InterfaceState("wan1", present=False), after=1.0)
    assert play.state("isp1") == "absent"
    # Back: a reconcile is scheduled, and the change itself is saved and hooked.
    effects = play.send(InterfaceState("wan1", present=True, admin_up=True, carrier=True))
    assert play.state("isp1") == "down"
    (hook,) = of(RunHooks, effects)
    assert (hook.event.state, hook.event.previous) == ("down", "absent")
    assert of(SaveStates, effects)


def test_reload_enables_links_the_operator_disabled_and_each_reload_is_a_generation() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    play.control("link", link="isp1", action="disable")
    assert play.state("isp1") == "disabled"
    done = len(play.effects)
    play.control("reload")
    assert play.state("isp1") == "up"
    (hook,) = of(RunHooks, play.effects[done:])
    assert (hook.event.link, hook.event.state, hook.event.previous) == ("isp1", "up", "disabled")
    play.control("reload")
    assert play.engine.generation == 2
    stale = ProbeRound(0.0, (TargetResult("192.0.2.53", False),))
    for _ in range(3):
        assert not play.send(ProbeDone("isp1", stale, generation=1))
    assert play.state("isp1") == "up"


def test_a_confirm_window_counts_from_now_and_its_revert_ends_runtime_changes() -> None:
    old, new = load_config_text(LINKS, "m.toml"), load_config_text(POLICIES, "m.toml")
    play = Play(old, next_config=new).start()
    play.t = 100.0
    done = len(play.effects)
    play.control("reload_confirm", seconds=30)
    effects = play.effects[done:]
    (revert,) = of(ScheduleRevert, effects)
    assert revert.delay == 30.0
    text = "reloaded; reverting in 30 s unless confirmed (multiwan confirm)"
    assert (WARNING, text) in logs(effects)
    play.control("link", link="isp2", action="disable")  # during the window
    reverted = play.send(RevertDue(revert.pending), after=30)
    assert logs(reverted)[0] == (
        WARNING, "change not confirmed in time: reverting to the previous config"
    )  # fmt: skip
    assert play.engine.file_config is old
    assert play.state("isp2") == "up"
    assert of(Flush, play.effects[done:])  # disabling isp2 flushed it


def test_a_rejected_reload_names_every_problem() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    effects = play.send(ConfigRejected(("links.a: bad", "rules[0].via: unknown"), None, None))
    text = "reload rejected, keeping the running config: links.a: bad; rules[0].via: unknown"
    assert effects == [Log(ERROR, text)]


def test_runtime_changes_are_logged_as_information() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    done = len(play.effects)
    play.control("weight", link="isp1", weight=5)
    (line,) = [e for e in of(Log, play.effects[done:]) if e.text.startswith("runtime change")]
    assert line.level == INFO


def test_an_unknown_link_is_answered_with_the_known_ones() -> None:
    play = Play(load_config_text(LINKS, "m.toml")).start()
    answer = play.control("link", link="nope", action="drain")
    assert answer == {"ok": False, "error": "unknown link 'nope': expected one of isp1, isp2"}
