"""Client pools: least-loaded by weight, sticky, re-homed on failure, home again on return."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from multiwan.core.pools import Seat, assign, per_link, seat_rule, seats_of

CLIENTS = [f"10.0.0.{n}" for n in range(1, 13)]


def counts(seats: dict[str, Seat]) -> Counter[str]:
    return Counter(seat.link for seat in seats.values())


def test_new_clients_fill_links_in_proportion_to_weight() -> None:
    seats = assign(CLIENTS, [("a", 2), ("b", 1)], {}, return_home=False)
    assert counts(seats) == {"a": 8, "b": 4}
    assert all(seat.home == seat.link for seat in seats.values())


def test_clients_keep_their_link_and_newcomers_even_out_the_load() -> None:
    first = assign(CLIENTS[:4], [("a", 1)], {}, return_home=False)  # b was down
    seats = assign(CLIENTS, [("a", 1), ("b", 1)], first, return_home=False)
    assert all(seats[c] == first[c] for c in CLIENTS[:4])
    assert counts(seats) == {"a": 6, "b": 6}


def test_a_dead_links_clients_move_and_only_they_move() -> None:
    seats = assign(CLIENTS, [("a", 1), ("b", 1), ("c", 1)], {}, return_home=False)
    after = assign(CLIENTS, [("a", 1), ("c", 1)], seats, return_home=False)
    moved = {c for c in CLIENTS if after[c].link != seats[c].link}
    assert moved == {c for c in CLIENTS if seats[c].link == "b"}
    assert counts(after) == {"a": 6, "c": 6}
    assert all(after[c].home == "b" for c in moved)  # home is remembered


def test_return_home_brings_them_back_and_without_it_they_stay() -> None:
    seats = assign(CLIENTS, [("a", 1), ("b", 1)], {}, return_home=True)
    away = assign(CLIENTS, [("a", 1)], seats, return_home=True)
    back = assign(CLIENTS, [("a", 1), ("b", 1)], away, return_home=True)
    assert back == seats
    stay = assign(CLIENTS, [("a", 1), ("b", 1)], away, return_home=False)
    assert counts(stay) == {"a": 12}


def test_no_live_link_seats_nobody_and_status_lists_clients_per_link() -> None:
    assert assign(CLIENTS, [], {}, return_home=False) == {}
    seats = assign(CLIENTS[:3], [("a", 1), ("b", 1)], {}, return_home=False)
    assert per_link(seats) == {"a": ["10.0.0.1", "10.0.0.3"], "b": ["10.0.0.2"]}


@given(
    st.integers(1, 60),
    st.lists(st.integers(1, 5), min_size=1, max_size=5),
    st.booleans(),
)
def test_every_link_gets_at_least_its_whole_share(n: int, weights: list[int], home: bool) -> None:
    """Seating one client at a time where (count+1)/weight is least is the D'Hondt method:
    each link gets at least the whole part of its share (lower quota), and seats are
    stable: assigning again changes nothing."""
    shares = [(f"l{i}", w) for i, w in enumerate(weights)]
    clients = [f"10.1.{i // 250}.{i % 250}" for i in range(n)]
    seats = assign(clients, shares, {}, return_home=home)
    assert set(seats) == set(clients)
    for link, weight in shares:
        assert counts(seats)[link] >= n * weight // sum(weights)
    assert assign(clients, shares, seats, return_home=home) == seats


def mark(link: str) -> str:
    return f"mark_{link}"


def test_the_seat_rule_covers_the_whole_address_space_in_order() -> None:
    seats = [("10.0.0.5", "a"), ("10.0.0.2", "b"), ("10.0.0.3", "a")]
    assert seat_rule(seats, 4, "pool4_p", mark) == (
        "ip saddr vmap { 0.0.0.0-10.0.0.1 : goto pool4_p, 10.0.0.2 : goto mark_b, "
        "10.0.0.3 : goto mark_a, 10.0.0.4 : goto pool4_p, 10.0.0.5 : goto mark_a, "
        "10.0.0.6-255.255.255.255 : goto pool4_p }"
    )
    edges = [("0.0.0.0", "a"), ("0.0.0.2", "a"), ("255.255.255.254", "b")]
    assert seat_rule(edges, 4, "pool4_p", mark) == (
        "ip saddr vmap { 0.0.0.0 : goto mark_a, 0.0.0.1 : goto pool4_p, 0.0.0.2 : goto mark_a, "
        "0.0.0.3-255.255.255.253 : goto pool4_p, 255.255.255.254 : goto mark_b, "
        "255.255.255.255 : goto pool4_p }"
    )
    assert seat_rule([("fd00::2", "a")], 6, "pool6_p", mark) == (
        "ip6 saddr vmap { ::-fd00::1 : goto pool6_p, fd00::2 : goto mark_a, "
        "fd00::3-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff : goto pool6_p }"
    )
    assert seat_rule([], 4, "pool4_p", mark) == "goto pool4_p"


def test_a_chain_holds_the_seats_of_its_family_on_live_links() -> None:
    seated = {"10.0.0.2": "a", "fd00::2": "a", "10.0.0.3": "b", "10.0.0.4": "c"}
    assert seats_of(seated, [("a", 1), ("b", 2)], 4) == (("10.0.0.2", "a"), ("10.0.0.3", "b"))
    assert seats_of(seated, [("a", 1)], 6) == (("fd00::2", "a"),)


def test_each_newcomer_takes_the_link_where_one_more_weighs_least() -> None:
    # 3:1 with four clients is exactly 3 and 1; the first goes to the heavier link.
    seats = assign(CLIENTS[:4], [("a", 3), ("b", 1)], {}, return_home=False)
    assert [seats[c].link for c in CLIENTS[:4]] == ["a", "a", "a", "b"]


def test_seated_clients_listed_after_a_newcomer_keep_their_link() -> None:
    # Clients come in order of first sight; one without a seat comes before a seated one.
    seats = assign(["new", "old"], [("a", 1), ("b", 1)], {"old": Seat("a", "a")}, False)
    assert seats == {"old": Seat("a", "a"), "new": Seat("b", "b")}


def test_seats_are_ordered_by_address_value_not_text() -> None:
    # "10.9.0.10" sorts before "10.9.0.9" as text: the gaps must follow the values, or the
    # vmap's intervals would overlap and nft would refuse the rule.
    rule = seat_rule([("10.9.0.10", "a"), ("10.9.0.9", "b")], 4, "pool4_p", lambda n: f"to_{n}")
    assert rule == (
        "ip saddr vmap { 0.0.0.0-10.9.0.8 : goto pool4_p, 10.9.0.9 : goto to_b, "
        "10.9.0.10 : goto to_a, 10.9.0.11-255.255.255.255 : goto pool4_p }"
    )
