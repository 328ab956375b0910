"""The link state machine, as playbooks: events in, transitions out, time explicit."""

import random
from collections.abc import Sequence
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multiwan.config.health import HealthCheck
from multiwan.core.linkstate import (
    Event,
    InterfaceChange,
    LinkHealth,
    OperatorChange,
    PassiveAlarm,
    ProbeRound,
    TargetResult,
    Transition,
    initial,
    next_interval,
    step,
)

CHECK = HealthCheck.model_validate(
    {
        "targets": [{"kind": "icmp", "host": "192.0.2.1"}, {"kind": "icmp", "host": "192.0.2.2"}],
        "interval": 1.0,
        "fast_interval": 0.2,
        "fall": 3,
        "rise": 2,
        # These playbooks are about fall and rise: quality thresholds off (0).
        "degraded_latency_ms": 0,
        "degraded_loss_pct": 0,
    }
)


def round_(at: float, *oks: bool, rtt: float = 0.01) -> ProbeRound:
    return ProbeRound(
        at,
        tuple(
            TargetResult(f"t{i}", ok, rtt if ok else None, None if ok else "timeout after 1s")
            for i, ok in enumerate(oks)
        ),
    )


def play(
    events: Sequence[Event], check: HealthCheck | None = CHECK, start: LinkHealth | None = None
) -> tuple[LinkHealth, list[Transition]]:
    health = start or initial(check, 0.0, present=True, carrier=True)
    transitions = []
    for event in events:
        health, transition = step(health, event, check)
        if transition:
            transitions.append(transition)
    return health, transitions


def test_fall_failed_rounds_take_a_link_down_with_the_reason() -> None:
    health, moves = play([round_(1, False, False), round_(2, False, False)])
    assert moves == []
    assert next_interval(health, CHECK) == 0.2  # failing: probe fast
    health, moves = play([round_(1, False, False)] * 2 + [round_(3, False, False)])
    assert [(m.previous, m.state) for m in moves] == [("up", "down")]
    assert moves[0].reason == "3 rounds failed: t0 timeout after 1s, t1 timeout after 1s"


def test_one_answering_target_is_enough_with_reliability_one() -> None:
    _, moves = play([round_(t, True, False) for t in range(10)])
    assert moves == []


def test_a_good_round_resets_the_failure_count() -> None:
    events = [round_(1, False, False), round_(2, False, False), round_(3, True, True)]
    _, moves = play([*events, round_(4, False, False), round_(5, False, False)])
    assert moves == []


def test_rise_good_rounds_bring_it_back() -> None:
    down, _ = play([round_(t, False, False) for t in range(3)])
    health, moves = play([round_(4, True, True)], start=down)
    assert (moves, next_interval(health, CHECK)) == ([], 0.2)  # recovering: probe fast
    health, moves = play([round_(4, True, True), round_(5, True, True)], start=down)
    assert [(m.state, m.reason) for m in moves] == [("up", "2 good rounds")]
    assert health.since == 5


def test_carrier_loss_acts_at_once_and_return_needs_rise_rounds() -> None:
    health, moves = play([InterfaceChange(1.5, present=True, carrier=False)])
    assert [(m.state, m.reason) for m in moves] == [("down", "carrier lost")]
    health, moves = play([InterfaceChange(2, present=True, carrier=True)], start=health)
    assert moves == []
    assert health.reason == "carrier back, waiting for 2 good rounds"
    _, moves = play([round_(3, True, True), round_(4, True, True)], start=health)
    assert [m.state for m in moves] == ["up"]


def test_interface_gone_is_absent_and_nothing_but_its_return_changes_that() -> None:
    health, moves = play([InterfaceChange(1, present=False)])
    assert [(m.state, m.reason) for m in moves] == [("absent", "interface gone")]
    health, moves = play([round_(t, True, True) for t in range(2, 6)], start=health)
    assert (moves, health.state) == ([], "absent")
    health, moves = play([InterfaceChange(7, present=True)], start=health)
    assert [m.state for m in moves] == ["down"]


def test_unprobed_link_follows_its_interface_only() -> None:
    health, moves = play(
        [InterfaceChange(1, present=True, carrier=False), InterfaceChange(2, present=True)],
        check=None,
    )
    assert [m.state for m in moves] == ["down", "up"]
    assert play([round_(3, False, False)] * 5, check=None, start=health)[1] == []


def test_operator_disable_wins_and_enable_returns_to_what_probes_say() -> None:
    health, moves = play([OperatorChange(1, disabled=True), round_(2, False, False)])
    assert [(m.state, m.reason) for m in moves] == [("disabled", "disabled by operator")]
    health, moves = play(
        [round_(3, False, False), round_(4, False, False), OperatorChange(5, disabled=False)],
        start=health,
    )
    assert [(m.state, m.reason) for m in moves] == [("down", "enabled by operator")]


LOSSY = HealthCheck.model_validate(
    {
        "targets": [{"kind": "icmp", "host": f"192.0.2.{i}"} for i in (1, 2, 3)],
        "degraded_loss_pct": 10,
        "down_loss_pct": 50,
        "degraded_latency_ms": 100,
        "window": 30,
        "fall": 3,
        "rise": 3,
    }
)


def test_twenty_percent_loss_settles_in_degraded_once_and_never_flaps() -> None:
    rng = random.Random(20)
    events: list[Event] = [round_(t, *(rng.random() >= 0.2 for _ in range(3))) for t in range(1000)]
    health, moves = play(events, check=LOSSY)
    assert [(m.previous, m.state) for m in moves] == [("up", "degraded")]
    assert moves[0].reason.startswith("loss ")
    # Once the loss is gone, it recovers after the window calms down.
    health, moves = play([round_(1000 + t, True, True, True) for t in range(60)], LOSSY, health)
    assert [m.state for m in moves] == ["up"]


def test_latency_degrades_and_heavy_loss_takes_down() -> None:
    slow = [round_(t, True, True, True, rtt=0.15) for t in range(10)]
    _, moves = play(slow, check=LOSSY)
    assert [(m.state, m.reason.split(" >")[0]) for m in moves] == [("degraded", "latency 150ms")]
    rng = random.Random(3)
    lossy = [round_(t, *(rng.random() >= 0.7 for _ in range(3))) for t in range(40)]
    _, moves = play(lossy, check=LOSSY)
    assert moves[-1].state == "down"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("probe"), st.lists(st.booleans(), min_size=2, max_size=2)),
            st.tuples(st.just("iface"), st.tuples(st.booleans(), st.booleans())),
            st.tuples(st.just("operator"), st.booleans()),
        ),
        max_size=60,
    )
)
def test_any_event_sequence_gives_a_consistent_state(steps: list[tuple[str, object]]) -> None:
    health = initial(CHECK, 0.0, present=True, carrier=True)
    for at, (kind, value) in enumerate(steps, start=1):
        if kind == "probe":
            event: Event = round_(at, *cast(list[bool], value))
        elif kind == "iface":
            present, carrier = cast(tuple[bool, bool], value)
            event = InterfaceChange(at, present, carrier)
        else:
            event = OperatorChange(at, bool(value))
        before = health
        health, transition = step(health, event, CHECK)
        assert health.since >= before.since
        assert (transition is None) == (health.state == before.state)
        if health.disabled:
            assert health.state == "disabled"
        elif not health.present:
            assert health.state == "absent"


DEFAULTS = HealthCheck.model_validate(
    {"targets": [{"kind": "icmp", "host": f"192.0.2.{i}"} for i in (1, 2, 3)]}
)


def test_defaults_take_a_link_losing_20_percent_each_way_out_within_seconds() -> None:
    """20 % each way is 36 % of echoes lost: out of the balance in a few rounds (0.5 s)."""
    assert (DEFAULTS.degraded_action, DEFAULTS.interval) == ("last_resort", 0.5)
    rng = random.Random(8)
    loss = 1 - 0.8 * 0.8
    events = [round_(t, *(rng.random() >= loss for _ in range(3))) for t in range(1, 40)]
    _, moves = play(events, check=DEFAULTS)
    assert [m.state for m in moves][:1] == ["degraded"]
    assert moves[0].at * DEFAULTS.interval <= 5.0


def test_defaults_keep_a_clean_or_slightly_lossy_link_up() -> None:
    rng = random.Random(1)
    events = [round_(t, *(rng.random() >= 0.01 for _ in range(3))) for t in range(2000)]
    assert play(events, check=DEFAULTS)[1] == []


def test_defaults_degrade_a_slow_link() -> None:
    _, moves = play([round_(t, True, True, True, rtt=0.6) for t in range(10)], check=DEFAULTS)
    assert [(m.state, m.reason.split(" >")[0]) for m in moves] == [("degraded", "latency 600ms")]


@pytest.mark.parametrize("good_before", range(12))
def test_a_dead_link_goes_down_not_degraded_first(good_before: int) -> None:
    """Failed rounds in a row are fall's to judge, however short the window is."""
    events = [round_(t, True, True, True) for t in range(good_before)]
    events += [round_(good_before + t, False, False, False) for t in range(3)]
    _, moves = play(events, check=DEFAULTS)
    assert [(m.previous, m.state) for m in moves] == [("up", "down")]


def test_zero_turns_a_default_threshold_off() -> None:
    check = HealthCheck.model_validate(
        {"targets": [{"kind": "icmp", "host": "192.0.2.1"}], "degraded_loss_pct": 0}
    )
    assert (check.degraded_loss_pct, check.degraded_latency_ms) == (None, 500)


# Start-up, counters and exact thresholds.


def test_a_link_starts_optimistic_unless_told_or_left_otherwise() -> None:
    assert initial(CHECK, 5.0, present=True, carrier=True) == LinkHealth(
        "up", 5.0, "starting", "up"
    )
    assert initial(None, 5.0, True, True, previous="down") == LinkHealth(
        "up", 5.0, "not probed", "up"
    )
    told = CHECK.model_copy(update={"initial_state": "down"})
    assert initial(told, 5.0, True, True) == LinkHealth("down", 5.0, "starting", "down")
    for previous in ("up", "degraded", "down"):
        health = initial(CHECK, 5.0, True, True, previous=previous)
        assert (health.state, health.verdict) == (previous, previous)
        assert health.reason == f"resuming as {previous}"
    absent = initial(CHECK, 5.0, present=False, carrier=True)
    assert (absent.state, absent.present, absent.carrier) == ("absent", False, True)
    no_carrier = initial(CHECK, 5.0, present=True, carrier=False)
    assert (no_carrier.state, no_carrier.present, no_carrier.carrier) == ("down", True, False)


def test_a_failed_target_without_an_error_says_failed() -> None:
    failed = ProbeRound(1, (TargetResult("t0", False), TargetResult("t1", False, None, "refused")))
    _, moves = play([failed, failed, failed])
    assert moves[0].reason == "3 rounds failed: t0 failed, t1 refused"


def test_probing_is_fast_only_while_failing_or_recovering() -> None:
    assert next_interval(initial(CHECK, 0, True, True), CHECK) == 1.0
    down, _ = play([round_(t, False, False) for t in range(3)])
    assert (down.verdict, next_interval(down, CHECK)) == ("down", 1.0)
    one_bad, _ = play([round_(1, False, False)])
    assert next_interval(one_bad, CHECK) == 0.2
    recovering, _ = play([round_(4, True, True)], start=down)
    assert next_interval(recovering, CHECK) == 0.2
    steady, _ = play([round_(1, True, True)])
    assert next_interval(steady, CHECK) == 1.0


def test_a_link_that_returns_starts_counting_again() -> None:
    failing, _ = play([round_(1, False, False), round_(2, False, False)])
    gone, moves = play([InterfaceChange(3, present=False)], start=failing)
    assert (gone.present, [m.state for m in moves]) == (False, ["absent"])
    # Back without carrier: present again, still down.
    back, moves = play([InterfaceChange(4, present=True, carrier=False)], start=gone)
    assert [(m.state, m.reason) for m in moves] == [("down", "carrier lost")]
    assert (back.present, back.carrier) == (True, False)
    back, moves = play(
        [InterfaceChange(5, present=False), InterfaceChange(6, present=True)], start=back
    )
    assert back.reason == "interface back, waiting for 2 good rounds"
    assert (back.state, back.good, back.bad) == ("down", 0, 0)
    still, moves = play([round_(7, True, True)], start=back)
    assert (moves, still.state) == ([], "down")
    _, moves = play([round_(8, True, True)], start=still)
    assert [(m.state, m.reason) for m in moves] == [("up", "2 good rounds")]


#: Ten targets, so each round loses a chosen tenth; every quality threshold on, at values
#: whose boundaries are exact in binary (0.25 loss, 62.5 ms), so `>` and `>=` differ.
QUALITY = HealthCheck.model_validate(
    {
        "targets": [{"kind": "icmp", "host": f"192.0.2.{i}"} for i in range(1, 11)],
        "window": 4,
        "fall": 100,
        "rise": 2,
        "degraded_loss_pct": 50,
        "down_loss_pct": 75,
        "degraded_latency_ms": 125,
        "down_latency_ms": 250,
    }
)


def lossy(at: float, lost: int, rtt: float = 0.015625) -> ProbeRound:
    """A round of QUALITY's ten targets with `lost` of them unanswered."""
    return round_(at, *([True] * (10 - lost) + [False] * lost), rtt=rtt)


def test_loss_thresholds_are_exceeded_only_above_them() -> None:
    at_degraded = [lossy(t, 5) for t in range(4)]  # 50 %
    assert play(at_degraded, QUALITY)[1] == []
    above = [*at_degraded[:3], lossy(3, 7)]  # 55 %
    assert [(m.state, m.reason) for m in play(above, QUALITY)[1]] == [
        ("degraded", "loss 55% > 50% over the last 4 rounds")
    ]
    at_down = [lossy(t, lost) for t, lost in enumerate((7, 8, 7, 8))]  # 75 %: not down
    assert [m.state for m in play(at_down, QUALITY)[1]] == ["degraded"]
    above = [lossy(t, 8) for t in range(4)]  # 80 %: down at once, from up
    assert [(m.previous, m.state, m.reason) for m in play(above, QUALITY)[1]] == [
        ("up", "down", "loss 80% > 75% over the last 4 rounds")
    ]


def test_quality_is_judged_only_on_a_full_enough_window() -> None:
    assert play([lossy(t, 9) for t in range(3)], QUALITY)[1] == []
    assert [m.at for m in play([lossy(t, 9) for t in range(4)], QUALITY)[1]] == [3]


def test_latency_thresholds_are_exceeded_only_above_them() -> None:
    def slow(ms: float) -> list[Event]:
        return [lossy(t, 0, rtt=ms / 1000) for t in range(4)]

    assert play(slow(125), QUALITY)[1] == []
    assert [(m.state, m.reason) for m in play(slow(126), QUALITY)[1]] == [
        ("degraded", "latency 126ms > 125ms over the last 4 rounds")
    ]
    assert [m.state for m in play(slow(250), QUALITY)[1]] == ["degraded"]
    assert [(m.state, m.reason) for m in play(slow(251), QUALITY)[1]] == [
        ("down", "latency 251ms > 250ms over the last 4 rounds")
    ]


def test_answers_without_a_round_trip_time_judge_loss_only() -> None:
    no_rtt = ProbeRound(0, tuple(TargetResult(f"t{i}", True) for i in range(10)))
    health, moves = play([no_rtt] * 4, QUALITY)
    assert (moves, health.latency) == ([], None)
    loss_only = QUALITY.model_copy(update={"degraded_latency_ms": None, "down_latency_ms": None})
    assert play([lossy(t, 0, rtt=2.0) for t in range(4)], loss_only)[1] == []


def _degraded() -> LinkHealth:
    health, moves = play([lossy(t, 6) for t in range(4)], QUALITY)  # 60 %
    assert [(m.state, m.at) for m in moves] == [("degraded", 3)]
    return health


def test_degraded_recovers_after_rise_calm_rounds_at_half_the_thresholds() -> None:
    # 25 % loss and 62.5 ms are calm (half of 50 % and 125 ms), once the window holds only
    # such rounds: from round 7, so up at round 8 (rise = 2).
    calm = [lossy(t, 3 if t % 2 == 0 else 2, rtt=0.0625) for t in range(4, 12)]
    _, moves = play(calm, QUALITY, _degraded())
    assert [(m.state, m.at, m.reason) for m in moves] == [
        ("up", 8, "quality recovered for 2 rounds")
    ]


def test_degraded_stays_while_quality_is_between_calm_and_the_threshold() -> None:
    lossy_30 = [lossy(t, 3, rtt=0.0625) for t in range(4, 30)]
    slow_78 = [lossy(t, 0, rtt=0.078125) for t in range(4, 30)]
    for events in (lossy_30, slow_78):
        health, moves = play(events, QUALITY, _degraded())
        assert (moves, health.state) == ([], "degraded")


def test_a_good_round_keeps_the_reason_of_the_last_change() -> None:
    health, _ = play([round_(1, True, True)])
    assert health.reason == "starting"


def _down(check: HealthCheck) -> LinkHealth:
    health, moves = play([round_(0, *[False] * 10)], check)
    assert [m.state for m in moves] == ["down"]
    return health


def test_a_down_link_returns_judged_on_its_good_rounds_only() -> None:
    check = QUALITY.model_copy(update={"window": 4, "rise": 3, "fall": 1})
    # The failed round is still in the window (55 % lost in all), not in the good rounds'.
    back, moves = play([lossy(t, 4) for t in (1, 2, 3)], check, _down(check))
    assert [(m.state, m.reason) for m in moves] == [("up", "3 good rounds")]
    assert len(back.window) == 3


def test_a_down_link_returns_as_its_good_rounds_say() -> None:
    check = QUALITY.model_copy(update={"window": 3, "rise": 3, "fall": 1})
    _, moves = play([lossy(t, 6) for t in (1, 2, 3)], check, _down(check))
    assert [(m.state, m.reason) for m in moves] == [
        ("degraded", "loss 60% > 50% over the last 3 rounds")
    ]
    stays, moves = play([lossy(t, 8) for t in (1, 2, 3)], check, _down(check))
    assert (moves, stays.state) == ([], "down")


def test_good_rounds_before_an_interface_loss_do_not_count_after_its_return() -> None:
    healthy, _ = play([round_(t, True, True) for t in range(3)])
    back, _ = play(
        [InterfaceChange(4, present=False), InterfaceChange(5, present=True)], start=healthy
    )
    still, moves = play([round_(6, True, True)], start=back)
    assert (moves, still.state, still.good) == ([], "down", 1)


def test_a_down_link_whose_good_rounds_are_still_too_lossy_keeps_its_reason() -> None:
    check = QUALITY.model_copy(update={"window": 3, "rise": 3, "fall": 1})
    down = _down(check)
    stays, _ = play([lossy(t, 8) for t in (1, 2, 3)], check, down)
    assert (stays.verdict, stays.reason) == ("down", down.reason)
    assert len(stays.window) == 3


def test_a_link_resumed_degraded_recovers_when_quality_is_not_judged() -> None:
    # Saved degraded by an earlier run; its check no longer sets quality thresholds (CHECK),
    # or its window is still too short to judge: rise calm rounds bring it up.
    for check in (CHECK, QUALITY.model_copy(update={"window": 10})):
        resumed = initial(check, 0.0, True, True, previous="degraded")
        _, moves = play([round_(t, *[True] * 10) for t in (1, 2)], check, resumed)
        assert [(m.state, m.reason) for m in moves] == [("up", "quality recovered for 2 rounds")]


def test_a_link_degraded_by_latency_alone_recovers() -> None:
    check = QUALITY.model_copy(update={"degraded_loss_pct": None, "down_loss_pct": None})
    slow = [lossy(t, 0, rtt=0.2) for t in range(4)]
    fast = [lossy(t, 0, rtt=0.01) for t in range(4, 12)]
    _, moves = play([*slow, *fast], check)
    assert [m.state for m in moves] == ["degraded", "up"]


@pytest.mark.parametrize(("lost", "rtt"), [(6, 0.01), (0, 0.2)], ids=["loss", "latency"])
def test_degraded_rounds_do_not_count_towards_recovery(lost: int, rtt: float) -> None:
    # A window of one round: the link recovers only after `rise` calm rounds in a row,
    # however long it was degraded before.
    check = QUALITY.model_copy(update={"window": 1})
    rounds = [lossy(t, lost, rtt) for t in range(5)]
    health, moves = play([*rounds, lossy(5, 0)], check)
    assert ([m.state for m in moves], health.state) == (["degraded"], "degraded")
    _, moves = play([lossy(6, 0)], check, health)
    assert [m.state for m in moves] == ["up"]


PASSIVE = CHECK.model_copy(update={"passive": True})


def test_a_passive_alarm_with_passive_down_takes_the_link_down_until_rise_rounds() -> None:
    alarm = PassiveAlarm(1.0, "new connections to 3 destinations unanswered", down=True)
    health, transitions = play([alarm], PASSIVE)
    assert [(t.state, t.reason) for t in transitions] == [
        ("down", "passive: new connections to 3 destinations unanswered")
    ]
    health, transitions = play([round_(2.0, True, True)], PASSIVE, health)
    assert not transitions  # probes confirm before it returns: rise = 2
    _, transitions = play([round_(3.0, True, True)], PASSIVE, health)
    assert [t.state for t in transitions] == ["up"]


def test_a_passive_alarm_alone_makes_the_link_suspect_and_probed_fast() -> None:
    health, transitions = play([PassiveAlarm(1.0, "why", down=False)], PASSIVE)
    assert not transitions
    assert health.suspect
    assert next_interval(health, PASSIVE) == PASSIVE.fast_interval
    health, _ = play([round_(2.0, True, False)], PASSIVE, health)
    assert not health.suspect  # a good round answered the alarm
    assert next_interval(health, PASSIVE) == PASSIVE.interval


def test_a_passive_alarm_changes_nothing_on_a_down_or_unprobed_link() -> None:
    down, _ = play([round_(t, False, False) for t in (1, 2, 3)])
    assert down.state == "down"
    assert play([PassiveAlarm(4.0, "why", down=True)], PASSIVE, down) == (down, [])
    unprobed = initial(None, 0.0, present=True, carrier=True)
    assert play([PassiveAlarm(1.0, "why", down=True)], None, unprobed) == (unprobed, [])


def test_a_passive_takedown_forgets_the_good_rounds_before_it() -> None:
    """Good rounds before the alarm prove nothing about after it: the link earns `rise`
    good rounds again, however long it was fine before."""
    health, _ = play([round_(float(t), True, True) for t in range(1, 6)], PASSIVE)
    alarm = PassiveAlarm(6.0, "new connections to 3 destinations unanswered", down=True)
    health, transitions = play([alarm], PASSIVE, health)
    assert [t.state for t in transitions] == ["down"]
    health, transitions = play([round_(7.0, True, True)], PASSIVE, health)
    assert not transitions
    _, transitions = play([round_(8.0, True, True)], PASSIVE, health)
    assert [t.state for t in transitions] == ["up"]
