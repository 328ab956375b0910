"""What a link's rates say: the traffic signal (packets out, none in), the traffic floor
(sends, hardly receives, for a while) and the capacity a link has shown."""

from multiwan.config.health import HealthCheck
from multiwan.core.traffic import CAPACITY_WINDOW, Sample, Traffic, sample

TARGETS = [{"kind": "icmp", "host": "192.0.2.1"}]


def check(**settings: object) -> HealthCheck:
    return HealthCheck.model_validate({"targets": TARGETS, **settings})


FLOOR = check(traffic_floor_kbit=64, traffic_floor_seconds=3)


def test_sending_at_the_floor_while_receiving_less_for_the_span_raises_one_alarm() -> None:
    traffic, reasons = Traffic(), []
    for at in range(6):
        traffic, reason = sample(traffic, Sample(float(at), rx_kbit=2, tx_kbit=90), FLOOR)
        reasons.append(reason)
    alarm = "traffic floor: received 2 kbit/s < 64 while sending 90 kbit/s for 3 s"
    assert reasons == [None, None, alarm, None, None, alarm]


def test_receiving_enough_sending_little_or_no_floor_is_no_alarm() -> None:
    for rx, tx, health in ((64, 90, FLOOR), (2, 63, FLOOR), (0, 500, check()), (0, 500, None)):
        traffic = Traffic()
        for at in range(10):
            traffic, reason = sample(traffic, Sample(float(at), rx, tx), health)
            assert reason is None
    traffic, _ = sample(Traffic(), Sample(0.0, 2, 90), FLOOR)
    traffic, _ = sample(traffic, Sample(1.0, 2, 90), FLOOR)
    traffic, _ = sample(traffic, Sample(2.0, 100, 90), FLOOR)  # one answer starts over
    assert traffic.quiet_since is None


def test_the_traffic_signal_is_packets_sent_and_none_received_in_a_second() -> None:
    signal = check(traffic_signal=True)
    _, reason = sample(Traffic(), Sample(0.0, 0, 12, rx_pps=0, tx_pps=14.4), signal)
    assert reason == "traffic signal: sent 14 packets/s, received none"
    _, reason = sample(Traffic(), Sample(0.0, 0, 0.1, rx_pps=0, tx_pps=0.5), signal)
    assert reason == "traffic signal: sent 0 packets/s, received none"  # one packet in 2 s
    for rx_pps, tx_pps, health in ((1, 14, signal), (0, 0, signal), (0, 14, check())):
        _, reason = sample(Traffic(), Sample(0.0, 0, 12, rx_pps, tx_pps), health)
        assert reason is None


def test_the_capacity_shown_is_the_peak_over_the_window() -> None:
    traffic = Traffic()
    assert traffic.as_dict() == {"peak_rx_kbit_s": None, "peak_tx_kbit_s": None}
    traffic, _ = sample(traffic, Sample(0.0, 40000.04, 1000), None)
    traffic, _ = sample(traffic, Sample(1.0, 500, 2000), None)
    assert traffic.as_dict() == {"peak_rx_kbit_s": 40000.0, "peak_tx_kbit_s": 2000.0}
    traffic, _ = sample(traffic, Sample(CAPACITY_WINDOW + 0.5, 10000, 10), None)
    assert (traffic.peak_rx_kbit, traffic.peak_tx_kbit) == (10000, 2000)  # the first aged out


def test_sending_exactly_the_floor_counts_and_a_small_floor_is_still_a_floor() -> None:
    traffic, reasons = Traffic(), []
    small = check(traffic_floor_kbit=1, traffic_floor_seconds=2)
    for at in range(2):
        traffic, reason = sample(traffic, Sample(float(at), rx_kbit=0, tx_kbit=1), small)
        reasons.append(reason)
    assert reasons == [None, "traffic floor: received 0 kbit/s < 1 while sending 1 kbit/s for 2 s"]


def test_a_peak_exactly_one_window_old_is_forgotten() -> None:
    traffic, _ = sample(Traffic(), Sample(0.0, 40000, 3000), None)
    traffic, _ = sample(traffic, Sample(CAPACITY_WINDOW, 10, 20), None)
    assert (traffic.peak_rx_kbit, traffic.peak_tx_kbit) == (10, 20)
