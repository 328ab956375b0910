"""`weight = "auto"`: the weight follows the capacity a link has shown, scaled by its
quality, with hysteresis and a minimum interval; idle links hold their weight."""

import pytest

from multiwan.config.autoweight import AutoWeight
from multiwan.core.autoweight import (
    Weighing,
    capacity,
    command_due,
    initial,
    parse_rate,
    target,
    weigh,
)

SETTINGS = AutoWeight(window=10, min_interval=5, hysteresis_pct=20, idle_kbit=1000)


def busy(rx_kbit: float, start: float, seconds: int) -> list[tuple[float, float, float]]:
    """One sample a second, receiving `rx_kbit` and sending a tenth of it."""
    return [(start + s, rx_kbit, rx_kbit / 10) for s in range(seconds)]


def test_the_capacity_is_the_peak_of_the_window_or_the_command_if_higher() -> None:
    samples = [*busy(40_000, 0, 5), *busy(10_000, 5, 10)]
    assert capacity(SETTINGS, samples, None, now=13.9) == 40_000  # the last 40 Mbit/s: at 4 s
    assert capacity(SETTINGS, samples, None, now=14) == 10_000  # 10 s old: out of the window
    assert capacity(SETTINGS, samples, None, now=15.5) == 10_000
    assert capacity(SETTINGS, samples, 25_000, now=15.5) == 25_000
    tx_only = AutoWeight(window=10, direction="tx")
    assert capacity(tx_only, samples, None, now=15.5) == 1_000
    rx_only = AutoWeight(window=10, direction="rx")
    assert capacity(rx_only, [(0, 500, 3000)], None, now=1) is None  # 500 < idle 1000
    assert capacity(SETTINGS, [(0, 500, 3000)], None, now=1) == 3000  # both: the higher


def test_an_idle_link_is_no_evidence() -> None:
    assert initial(SETTINGS) == Weighing(10, "initial weight: nothing measured yet")
    assert capacity(SETTINGS, busy(999, 0, 10), None, now=9) is None
    assert capacity(SETTINGS, [], None, now=9) is None
    no_floor = AutoWeight(idle_kbit=0)
    assert capacity(no_floor, [(0, 0, 0)], None, now=1) is None
    assert capacity(no_floor, [], None, now=1) is None
    assert capacity(no_floor, [(0, 0.5, 0)], None, now=1) == 0.5
    held, change = weigh(Weighing(40, "before"), SETTINGS, busy(300, 0, 10), None, None, 9)
    assert (held.weight, change, held.capacity_kbit) == (40, None, None)


def test_the_weight_is_mbit_scaled_by_loss_and_latency_and_bounded() -> None:
    assert target(SETTINGS, 38_400, None, None) == (38, "capacity 38.4 Mbit/s")
    assert target(SETTINGS, 40_000, 0.25, 0.5) == (30, "capacity 40.0 Mbit/s, loss 25 %")
    slow = AutoWeight(latency_ms=100)
    assert target(slow, 40_000, None, 0.2) == (20, "capacity 40.0 Mbit/s, RTT 200 ms > 100 ms")
    assert target(slow, 40_000, None, 0.1) == (40, "capacity 40.0 Mbit/s")
    assert target(SETTINGS, 40_960, 0.125, None) == (36, "capacity 41.0 Mbit/s, loss 12 %")
    assert target(SETTINGS, 39_500, None, None)[0] == 40  # 39.5 Mbit/s rounds to even
    assert target(slow, 43_000, None, 0.2) == (22, "capacity 43.0 Mbit/s, RTT 200 ms > 100 ms")
    assert target(slow, 40_000, None, 0.2004)[1].endswith("RTT 200 ms > 100 ms")
    assert target(slow, 40_000, None, 0.2006)[1].endswith("RTT 201 ms > 100 ms")
    assert target(SETTINGS, 400, None, None)[0] == 1
    assert target(SETTINGS, 5_000_000, None, None)[0] == 1000


def test_the_weight_follows_a_drop_within_the_window_and_then_holds_still() -> None:
    samples = busy(40_000, 0, 5)
    state, change = weigh(initial(SETTINGS), SETTINGS, samples, None, None, 4)
    assert (state.weight, change) == (40, "weight 10 -> 40 (capacity 40.0 Mbit/s)")
    weights = []
    for now in range(5, 30):
        samples.append((now, 10_000, 1_000))
        state, change = weigh(state, SETTINGS, samples, None, None, now)
        weights.append(state.weight)
        if change:
            assert change == "weight 40 -> 10 (capacity 10.0 Mbit/s)"
    assert weights.index(10) == 14 - 5  # at 14 s: the last 40 Mbit/s (at 4 s) left the window
    assert set(weights[weights.index(10) :]) == {10}
    assert state.changes == 2


def test_hysteresis_and_the_minimum_interval_hold_small_and_quick_changes() -> None:
    state = Weighing(40, "before", changed_at=0.0)
    for rx, now, expected in ((48_000, 10, 40), (49_000, 10, 49), (20_000, 12, 49)):
        state, _ = weigh(state, SETTINGS, busy(rx, now - 5, 6), None, None, now)
        assert state.weight == expected, (rx, now)
    state, change = weigh(state, SETTINGS, busy(20_000, 10, 6), None, None, 15.0)
    assert change == "weight 49 -> 20 (capacity 20.0 Mbit/s)"
    assert (state.weight, state.changed_at) == (20, 15.0)


def test_a_lower_peak_counts_only_when_the_link_ran_full_at_it_for_half_the_window() -> None:
    """Traffic that ebbs (the last partial second of a download, then quiet) is demand, not
    capacity; a line that runs full at the lower rate is."""
    state = Weighing(40, "before")
    ebb = [*busy(12_000, 0, 1), *busy(300, 1, 9)]
    state, change = weigh(state, SETTINGS, ebb, None, None, 9.5)
    assert (state.weight, change, state.capacity_kbit) == (40, None, 12_000)
    four_of_ten = [*busy(12_000, 0, 1), *busy(9_600, 1, 3), *busy(9_000, 4, 6)]
    assert weigh(state, SETTINGS, four_of_ten, None, None, 9.5)[0].weight == 40  # 9 < 0.8 x 12
    five_of_ten = [*busy(12_000, 0, 1), *busy(9_600, 1, 4), *busy(9_000, 5, 5)]
    assert weigh(state, SETTINGS, five_of_ten, None, None, 9.5)[0].weight == 12  # 9.6: near


def test_a_lower_capacity_the_command_measured_counts_at_once() -> None:
    state = Weighing(40, "before", measured_kbit=15_000)
    state, change = weigh(state, SETTINGS, busy(300, 0, 10), None, None, 9.5)
    assert change == "weight 40 -> 15 (capacity 15.0 Mbit/s)"


def test_latency_over_the_reference_weighs_in() -> None:
    slow = AutoWeight(latency_ms=100)
    _, change = weigh(initial(slow), slow, busy(80_000, 0, 5), None, 0.2, 4)
    assert change == "weight 10 -> 40 (capacity 80.0 Mbit/s, RTT 200 ms > 100 ms)"


def test_the_command_runs_when_due_and_never_twice_at_once() -> None:
    with_command = AutoWeight(command=["/bin/true"], command_interval=60)
    state = initial(with_command)
    assert command_due(state, with_command, 0)
    running = Weighing(10, "", command_ended=0.0, command_running=True)
    assert not command_due(running, with_command, 100)
    done = Weighing(10, "", command_ended=0.0)
    assert not command_due(done, with_command, 59.9)
    assert command_due(done, with_command, 60)
    assert not command_due(state, SETTINGS, 0)  # no command


@pytest.mark.parametrize(
    ("output", "kbit"),
    [
        ("38.5 Mbit/s\n", 38_500),
        ("Download: 900 kbps", 900),
        ("1 Gbit/s", 1_000_000),
        ("12000\n", 12_000),
        ("speed 2.5Mbps", 2_500),
        ("Ping: 12 ms\nDownload: 38.5 Mbit/s\nUpload: 9 Mbit/s", 38_500),
        ("isp1: 20 Mbits/s", 20_000),
    ],
)
def test_a_command_prints_a_rate_with_its_unit(output: str, kbit: float) -> None:
    assert parse_rate(output) == kbit


def test_a_long_output_is_quoted_to_80_characters() -> None:
    with pytest.raises(ValueError, match="no rate in its output") as caught:
        parse_rate("x" * 100)
    assert f"'{'x' * 80}'" in str(caught.value)
    assert "x" * 81 not in str(caught.value)


@pytest.mark.parametrize("output", ["unreachable", "4.8 MB/s", "12 ms", "1 2"])
def test_output_without_a_rate_in_bits_is_an_error_that_quotes_it(output: str) -> None:
    with pytest.raises(ValueError, match=f"no rate in its output '{output}'"):
        parse_rate(output)
