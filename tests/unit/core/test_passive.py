"""The passive failure signal's decision: unanswered new connections towards several
destinations since the link last answered one raise the alarm; one dead server never does."""

from multiwan.core.passive import EVIDENCE_SECONDS, Handshake, Passive, observe


def failed(at: float, *destinations: str) -> list[Handshake]:
    return [Handshake(at, d, answered=False) for d in destinations]


def test_three_destinations_unanswered_raise_the_alarm_and_the_evidence_starts_over() -> None:
    passive, alarm = observe(Passive(), failed(1.0, "192.0.2.1", "192.0.2.2"), 1.2, 3)
    assert alarm is None
    assert passive.unanswered_total == 2
    passive, alarm = observe(passive, failed(1.1, "192.0.2.3"), 1.3, 3)
    assert alarm == (
        "new connections to 3 destinations unanswered (192.0.2.1, 192.0.2.2, 192.0.2.3)"
    )
    assert (passive.alarms, passive.last_alarm, passive.unanswered) == (1, alarm, ())
    passive, alarm = observe(passive, failed(1.4, "192.0.2.4"), 1.5, 3)
    assert alarm is None  # one more is not three more


def test_one_dead_server_never_raises_it_however_often() -> None:
    passive = Passive()
    for at in range(50):
        passive, alarm = observe(passive, failed(at / 10, "192.0.2.9"), at / 10 + 0.1, 2)
        assert alarm is None
    assert passive.unanswered_total == 50
    assert passive.as_dict()["suspect_destinations"] == 1


def test_an_answer_started_later_clears_the_failures_before_it_and_not_after() -> None:
    shakes = [*failed(1.0, "a", "b"), Handshake(1.5, "c", answered=True), *failed(2.0, "d")]
    passive, alarm = observe(Passive(), shakes, 2.2, 2)
    assert alarm is None  # only d counts: the link answered c after a and b started
    assert (passive.last_answer, passive.unanswered) == (1.5, (("d", 2.0),))
    assert (passive.answered_total, passive.unanswered_total) == (1, 3)
    # An answer to a connection started before the failures proves nothing about them.
    passive, alarm = observe(passive, [Handshake(1.8, "e", True), *failed(2.1, "f")], 2.3, 2)
    assert alarm == "new connections to 2 destinations unanswered (d, f)"


def test_old_evidence_expires() -> None:
    passive, _ = observe(Passive(), failed(0.0, "a", "b"), 0.1, 3)
    passive, alarm = observe(passive, failed(EVIDENCE_SECONDS + 1, "c"), EVIDENCE_SECONDS + 1, 3)
    assert alarm is None
    assert passive.unanswered == (("c", EVIDENCE_SECONDS + 1),)


def test_the_reason_names_at_most_three_destinations() -> None:
    _, alarm = observe(Passive(), failed(1.0, "a", "b", "c", "d", "e"), 1.1, 5)
    assert alarm == "new connections to 5 destinations unanswered (a, b, c, ...)"


def test_a_failure_keeps_its_own_start_however_early() -> None:
    passive, _ = observe(Passive(), failed(0.5, "a"), 0.6, 3)
    assert passive.unanswered == (("a", 0.5),)


def test_a_link_already_down_counts_its_failures_but_raises_no_alarm_of_its_own() -> None:
    """The connections still failing on a link that went down are counted, not evidence: a
    down link would otherwise show a second alarm for the same outage."""
    passive, alarm = observe(Passive(), failed(1.0, "a", "b", "c", "d"), 1.2, 3, armed=False)
    assert (alarm, passive.alarms, passive.unanswered, passive.unanswered_total) == (None, 0, (), 4)
    passive, alarm = observe(passive, failed(2.0, "a", "b"), 2.2, 3)  # back up: starts afresh
    assert alarm is None


def test_an_answer_seen_in_an_earlier_round_still_clears_what_started_before_it() -> None:
    """Handshakes end out of order (an unanswered one is reported only after its timeout):
    failures reported after the answer, but started before it, prove nothing."""
    passive, _ = observe(Passive(), [Handshake(5.0, "x", answered=True)], 5.1, 2)
    passive, alarm = observe(passive, failed(4.0, "a", "b"), 7.0, 2)
    assert alarm is None
    assert (passive.last_answer, passive.unanswered) == (5.0, ())


def test_a_failure_started_with_the_answer_is_no_evidence() -> None:
    shakes = [Handshake(3.0, "x", answered=True), *failed(3.0, "a", "b")]
    passive, alarm = observe(Passive(), shakes, 3.5, 2)
    assert alarm is None
    assert passive.unanswered == ()


def test_each_destination_keeps_its_latest_failure_whatever_the_order_reported() -> None:
    passive, _ = observe(Passive(), failed(6.0, "a"), 6.5, 3)
    passive, alarm = observe(passive, [*failed(8.0, "b"), *failed(2.0, "a", "b")], 9.0, 3)
    assert alarm is None
    assert passive.unanswered == (("a", 6.0), ("b", 8.0))
    # 2.0 alone would have aged out by now: the later failures keep both destinations.
    passive, alarm = observe(passive, failed(9.5, "c"), 12.5, 3)
    assert alarm == "new connections to 3 destinations unanswered (a, b, c)"


def test_four_destinations_name_three_and_say_there_are_more() -> None:
    _, alarm = observe(Passive(), failed(1.0, "a", "b", "c", "d"), 1.1, 4)
    assert alarm == "new connections to 4 destinations unanswered (a, b, c, ...)"
