"""The least-loaded policies' clients as the neighbour table shows them: who is a client,
one client per link-layer address, seats reported only when they move."""

from multiwan.config.schema import Config
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.strategy import Availability
from multiwan.daemon.clients import ClientPools
from multiwan.kernel.events import NeighbourChanged

LAN, UPLINK = 9, 1
CONFIG = Config.model_validate(
    {
        "default_policy": "pool",
        "links": {"a": {"interface": "wan1"}, "b": {"interface": "wan2"}},
        "policies": {
            "plain": {"links": ["a"]},
            "pool": {"strategy": "least-loaded", "links": ["a", "b"]},
        },
    }
)
FACTS = {
    f"wan{n}": InterfaceFacts(True, FamilyFacts(f"100.64.{n}.1", f"100.64.{n}.2"), index=n)
    for n in (1, 2)
}
LINKS = {link.name: link for link in resolve_links(CONFIG, FACTS)}
BOTH = Availability(frozenset({"a", "b"}))


def host(n: int, present: bool = True, mac: int | None = None) -> NeighbourChanged:
    return NeighbourChanged(LAN, f"10.9.0.{n}", f"02:00:00:00:00:{mac or n:02x}", present)


def test_a_fresh_pool_has_no_clients_and_no_seats() -> None:
    pools = ClientPools()
    assert (pools.clients, pools.saved(), pools.view(), pools.seated(CONFIG)) == ({}, {}, {}, {})


def test_learn_says_whether_the_clients_changed() -> None:
    pools = ClientPools()
    assert not pools.learn(NeighbourChanged(UPLINK, "100.64.1.1", "02:aa::", True), {UPLINK})
    assert not pools.learn(NeighbourChanged(LAN, "ff02::1", None, True), {UPLINK})
    assert pools.learn(host(1), {UPLINK})
    assert not pools.learn(host(1), {UPLINK})  # known already
    assert not pools.learn(host(2, present=False), {UPLINK})  # never seen
    assert pools.learn(host(1, present=False), {UPLINK})
    assert pools.clients == {}


def test_an_address_that_moves_to_another_host_leaves_the_first() -> None:
    pools = ClientPools()
    pools.learn(host(1), set())
    pools.learn(host(2, mac=1), set())  # the same host, a second address
    assert pools.learn(host(1, mac=7), set())  # 10.9.0.1 is another host's now
    assert pools.clients == {"02:00:00:00:00:01": {"10.9.0.2"}, "02:00:00:00:00:07": {"10.9.0.1"}}
    assert pools.owner == {"10.9.0.2": "02:00:00:00:00:01", "10.9.0.1": "02:00:00:00:00:07"}


def test_refresh_forgets_what_the_neighbour_table_no_longer_holds() -> None:
    pools = ClientPools()
    for n in (1, 2, 3):
        pools.learn(host(n), set())
    pools.learn(host(4, mac=3), set())
    pools.refresh((host(2), host(4, mac=3), host(5)), set())
    assert pools.clients == {
        "02:00:00:00:00:02": {"10.9.0.2"},
        "02:00:00:00:00:03": {"10.9.0.4"},
        "02:00:00:00:00:05": {"10.9.0.5"},
    }
    assert set(pools.owner) == {"10.9.0.2", "10.9.0.4", "10.9.0.5"}


def test_reseat_reports_only_the_clients_that_moved() -> None:
    pools = ClientPools()
    for n in (1, 2, 3):
        pools.learn(host(n), set())
    assert pools.reseat(CONFIG, LINKS, BOTH) == [
        "policy pool: seated 02:00:00:00:00:01 on a, 02:00:00:00:00:02 on b, 02:00:00:00:00:03 on a"
    ]
    assert pools.reseat(CONFIG, LINKS, BOTH) == []  # nothing moved
    assert pools.reseat(CONFIG, LINKS, Availability(frozenset({"b"}))) == [
        "policy pool: seated 02:00:00:00:00:01 on b, 02:00:00:00:00:03 on b"
    ]
    assert pools.view() == {"pool": {"b": ["10.9.0.1", "10.9.0.2", "10.9.0.3"]}}
    assert pools.seated(CONFIG) == {
        "pool": dict.fromkeys(["10.9.0.1", "10.9.0.2", "10.9.0.3"], "b")
    }


def test_view_and_seats_leave_absent_clients_out_but_keep_their_seat() -> None:
    pools = ClientPools()
    pools.learn(host(1), set())
    pools.learn(host(2), set())
    pools.reseat(CONFIG, LINKS, BOTH)
    pools.learn(host(2, present=False), set())
    assert pools.view() == {"pool": {"a": ["10.9.0.1"]}}
    assert pools.seated(CONFIG) == {"pool": {"10.9.0.1": "a"}}
    assert set(pools.saved()["pool"]) == {"02:00:00:00:00:01", "02:00:00:00:00:02"}


def test_reseat_waits_for_resolved_links_and_skips_other_strategies() -> None:
    pools = ClientPools()
    pools.learn(host(1), set())
    assert pools.reseat(CONFIG, {}, BOTH) == []  # before the first reconcile
    assert pools.seats == {}
    # "plain" (balance) comes first in the config and is skipped, not the end of the loop.
    assert pools.reseat(CONFIG, LINKS, BOTH) == ["policy pool: seated 02:00:00:00:00:01 on a"]
    assert set(pools.seats) == {"pool"}
