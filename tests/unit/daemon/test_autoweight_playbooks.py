"""Playbooks for `weight = "auto"`: the engine moves an auto link's weight when the capacity
it shows changes (logged with the reason, applied by the fast path, shown in status), holds
it under steady traffic, runs the measurement command when due, and keeps the measured
weight across runtime changes and reloads."""

from logging import INFO, WARNING
from typing import Any

from multiwan.config.load import load_config_text
from multiwan.daemon.effects import Apply, ApplyConfig, Log, MeasureCapacity, SaveWeights
from multiwan.daemon.engine import Now
from multiwan.daemon.events import CapacityMeasured, RatesSampled, Reload, Start
from tests.unit.daemon.test_playbooks import LINKS, Play, chain_text, logged, of, rates

AUTO = LINKS.replace(
    'interface = "wan1"',
    'interface = "wan1"\nweight = "auto"\n[links.isp1.auto_weight]\nwindow = 10\nmin_interval = 5',
)


def second(play: Play, isp1_kbit: float) -> list[Any]:
    """One second of traffic: isp1 receives `isp1_kbit`, isp2 5 Mbit/s."""
    return play.send(RatesSampled({"isp1": rates(isp1_kbit, 100), "isp2": rates(5000, 100)}), 1.0)


def link(play: Play, name: str) -> dict[str, Any]:
    links: list[dict[str, Any]] = play.engine.status(Now(play.t, 1e9))["links"]  # type: ignore[assignment]
    return next(entry for entry in links if entry["name"] == name)


def test_the_weight_follows_the_capacity_shown_and_holds_still_in_between() -> None:
    play = Play(load_config_text(AUTO, "m.toml")).start()
    assert link(play, "isp1")["weight"] == 10  # the initial weight
    assert link(play, "isp1")["auto_weight"]["reason"] == "initial weight: nothing measured yet"
    effects = second(play, 40_000)
    assert logged(effects) == (
        "link isp1: weight 10 -> 40 (capacity 40.0 Mbit/s); updated pol4_all, fallback route "
        "in 2.0 ms"
    )
    assert "numgen random mod 41 vmap { 0-39 : goto mark_isp1, 40 : goto mark_isp2 }" in chain_text(
        effects
    )
    assert of(Log, effects)[0].fields == {"link": "isp1"}
    steady = [second(play, 39_000 if s % 2 else 41_000) for s in range(12)]
    assert not any(of(Apply, e) for e in steady), "steady traffic must not rewrite chains"
    moves = [second(play, 10_000) for _ in range(12)]
    moved = [n for n, effects in enumerate(moves) if of(Apply, effects)]
    assert moved == [9], "the drop shows once the last 40 Mbit/s left the 10 s window"
    assert logged(moves[9]).startswith("link isp1: weight 40 -> 10 (capacity 10.0 Mbit/s)")
    shown = link(play, "isp1")
    assert (shown["weight"], shown["auto_weight"]) == (10, {
        "weight": 10, "reason": "capacity 10.0 Mbit/s", "changes": 2,
        "capacity_kbit_s": 10_000, "measured_kbit_s": None,
    })  # fmt: skip
    assert link(play, "isp2")["auto_weight"] is None


def test_a_link_after_a_fixed_one_is_weighed_too_and_its_latency_counts() -> None:
    text = LINKS.replace(
        'interface = "wan2"',
        'interface = "wan2"\nweight = "auto"\n[links.isp2.auto_weight]\nlatency_ms = 100',
    )
    play = Play(load_config_text(text, "m.toml")).start()
    play.probe("isp2", True, rounds=3, rtt=0.2)
    rated = RatesSampled({"isp1": rates(0, 0), "isp2": rates(80_000, 100)})
    effects = play.send(rated, 1.0)  # 80 Mbit/s at 200 ms: half of it
    assert logged(effects).startswith(
        "link isp2: weight 10 -> 40 (capacity 80.0 Mbit/s, RTT 200 ms > 100 ms)"
    )


def test_probe_loss_scales_the_weight_down() -> None:
    play = Play(load_config_text(AUTO, "m.toml")).start()
    play.probe("isp1", True, rounds=3)
    play.probe("isp1", False)
    play.probe("isp1", True)
    effects = second(play, 40_000)
    assert "link isp1: weight 10 -> 32 (capacity 40.0 Mbit/s, loss 20 %)" in logged(effects)


def test_an_idle_link_keeps_its_weight() -> None:
    play = Play(load_config_text(AUTO, "m.toml")).start()
    second(play, 40_000)
    quiet = [second(play, 200) for _ in range(30)]
    assert not any(of(Apply, e) for e in quiet)
    assert link(play, "isp1")["weight"] == 40


def test_the_measurement_command_runs_when_due_and_its_result_counts() -> None:
    text = AUTO.replace("min_interval = 5", 'min_interval = 5\ncommand = ["/usr/bin/measure", "-q"]'
                        "\ncommand_interval = 60\ncommand_timeout = 20")  # fmt: skip
    play = Play(load_config_text(text, "m.toml")).start()
    effects = second(play, 0)
    assert of(MeasureCapacity, effects) == [MeasureCapacity("isp1", ("/usr/bin/measure", "-q"), 20)]
    assert not any(of(MeasureCapacity, second(play, 0)) for _ in range(70)), "one at a time"
    effects = play.send(CapacityMeasured("isp1", 40_960))
    assert of(Log, effects) == [Log(INFO, "link isp1: capacity measured: 41.0 Mbit/s",
                                    {"link": "isp1"})]  # fmt: skip
    assert "link isp1: weight 10 -> 41 (capacity 41.0 Mbit/s)" in logged(second(play, 0))
    assert link(play, "isp1")["auto_weight"]["measured_kbit_s"] == 40_960
    assert not any(of(MeasureCapacity, second(play, 0)) for _ in range(58))
    assert of(MeasureCapacity, second(play, 0)), "due again: 60 s after the last one ended"
    effects = play.send(CapacityMeasured("isp1", None, "measure exited 2"))
    assert of(Log, effects) == [Log(WARNING, "link isp1: capacity measurement failed: measure "
                                    "exited 2", {"link": "isp1"})]  # fmt: skip
    assert link(play, "isp1")["weight"] == 41  # the last good measurement still counts
    assert not any(of(MeasureCapacity, second(play, 0)) for _ in range(59)), "60 s after a failure"
    assert of(MeasureCapacity, second(play, 0))


def test_a_runtime_weight_replaces_auto_until_a_reload_and_the_measured_one_returns() -> None:
    play = Play(load_config_text(AUTO, "m.toml")).start()
    second(play, 40_000)
    assert play.control("weight", link="isp1", weight=3)["ok"]
    assert link(play, "isp1")["weight"] == 3
    assert link(play, "isp1")["auto_weight"] is None
    assert not any(of(Apply, second(play, 10_000)) for _ in range(12)), "not auto any more"
    effects = play.send(Reload())
    assert of(ApplyConfig, effects)
    assert link(play, "isp1")["weight"] == 40  # measured before, held while it was not auto


def test_measured_weights_are_saved_and_a_restart_resumes_from_them() -> None:
    play = Play(load_config_text(AUTO, "m.toml")).start()
    assert of(SaveWeights, second(play, 40_000)) == [SaveWeights({"isp1": 40})]
    assert not of(SaveWeights, second(play, 40_000)), "saved when a weight moves only"
    again = Play(load_config_text(AUTO, "m.toml"))
    again.send(Start({}, weights={"isp1": 40, "gone": 7}))
    shown = link(again, "isp1")
    assert (shown["weight"], shown["auto_weight"]["reason"]) == (
        40, "measured before the daemon restarted"
    )  # fmt: skip
    (first,) = of(ApplyConfig, again.effects)
    assert first.available.measured == {"isp1": 40}, "the first apply uses it"


def test_two_links_moving_at_once_are_one_update_and_one_info_line() -> None:
    both = AUTO.replace(
        'interface = "wan2"',
        'interface = "wan2"\nweight = "auto"\n[links.isp2.auto_weight]\nwindow = 10',
    )
    play = Play(load_config_text(both, "m.toml")).start()
    effects = play.send(RatesSampled({"isp1": rates(40_000, 0), "isp2": rates(20_000, 0)}), 1.0)
    (line,) = [e for e in of(Log, effects) if "weight" in e.text]
    assert line.level == INFO
    assert line.text.startswith(
        "link isp1: weight 10 -> 40 (capacity 40.0 Mbit/s); "
        "link isp2: weight 10 -> 20 (capacity 20.0 Mbit/s); updated pol4_all"
    )
    assert line.fields == {}
