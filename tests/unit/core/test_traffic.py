"""The traffic floor (sends, hardly receives: suspect) and the capacity a link has shown."""

from multiwan.core.traffic import CAPACITY_WINDOW, Traffic, sample


def test_sending_at_the_floor_while_receiving_less_for_the_span_raises_one_alarm() -> None:
    traffic, reasons = Traffic(), []
    for at in range(6):
        traffic, reason = sample(
            traffic, float(at), rx_kbit=2, tx_kbit=90, floor_kbit=64, seconds=3
        )
        reasons.append(reason)
    assert reasons == [None, None, "received 2 kbit/s < 64 while sending 90 kbit/s for 3 s",
                       None, None, reasons[2]]  # fmt: skip


def test_receiving_enough_sending_little_or_no_floor_is_no_alarm() -> None:
    for rx, tx, floor in ((64, 90, 64), (2, 63, 64), (0, 500, 0)):
        traffic = Traffic()
        for at in range(10):
            traffic, reason = sample(traffic, float(at), rx, tx, floor, 3)
            assert reason is None
    traffic, _ = sample(Traffic(), 0.0, 2, 90, 64, 3)
    traffic, _ = sample(traffic, 1.0, 2, 90, 64, 3)
    traffic, _ = sample(traffic, 2.0, 100, 90, 64, 3)  # one answer starts the count over
    assert traffic.quiet_since is None


def test_the_capacity_shown_is_the_peak_over_the_window() -> None:
    traffic = Traffic()
    assert traffic.as_dict() == {"peak_rx_kbit_s": None, "peak_tx_kbit_s": None}
    traffic, _ = sample(traffic, 0.0, 40000.04, 1000, 0, 3)
    traffic, _ = sample(traffic, 1.0, 500, 2000, 0, 3)
    assert traffic.as_dict() == {"peak_rx_kbit_s": 40000.0, "peak_tx_kbit_s": 2000.0}
    traffic, _ = sample(traffic, CAPACITY_WINDOW + 0.5, 10000, 10, 0, 3)
    assert (traffic.peak_rx_kbit, traffic.peak_tx_kbit) == (10000, 2000)  # the first aged out


def test_sending_exactly_the_floor_counts_and_a_small_floor_is_still_a_floor() -> None:
    traffic, reasons = Traffic(), []
    for at in range(2):
        traffic, reason = sample(traffic, float(at), rx_kbit=0, tx_kbit=1, floor_kbit=1, seconds=2)
        reasons.append(reason)
    assert reasons == [None, "received 0 kbit/s < 1 while sending 1 kbit/s for 2 s"]


def test_a_peak_exactly_one_window_old_is_forgotten() -> None:
    traffic, _ = sample(Traffic(), 0.0, 40000, 3000, 0, 3)
    traffic, _ = sample(traffic, CAPACITY_WINDOW, 10, 20, 0, 3)
    assert (traffic.peak_rx_kbit, traffic.peak_tx_kbit) == (10, 20)
