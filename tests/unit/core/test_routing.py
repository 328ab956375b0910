"""Per-link tables, the fallback table and the router's own source address, compiled from
config and facts: the routes and rules as the kernel gets them."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.compile import compile_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.model import DesiredState, Family, Nexthop, Route, Rule
from multiwan.core.ownership import PRIO_STEER, TABLE_FALLBACK, link_table

TWO = """
default_policy = "p"
[links.a]
interface = "wan1"
ipv6 = true
[links.b]
interface = "ppp0"
ipv6 = true
[policies.p]
links = ["a", "b"]
"""
FACTS = {
    "wan1": InterfaceFacts(
        True,
        FamilyFacts("100.64.1.1", "100.64.1.2", ("100.64.1.0/24",)),
        FamilyFacts("fd00:1::1", "fd00:1::2", ("fd00:1::/64",)),
    ),
    # Point-to-point: no subnet and no gateway (the device is the next hop), IPv6 too.
    "ppp0": InterfaceFacts(
        True, FamilyFacts(None, "198.51.100.7"), FamilyFacts(None, "2001:db8:7::7")
    ),
}


def compiled(
    text: str = TWO, live: set[str] | None = None, local: dict[Family, str] | None = None
) -> DesiredState:
    config = Config.model_validate(tomllib.loads(text))
    links = resolve_links(config, FACTS)
    return compile_state(config, links, set(config.links) if live is None else live, local=local)


def _table(routes: frozenset[Route], table: int) -> set[Route]:
    return {r for r in routes if r.table == table}


def test_each_link_has_its_own_table_with_its_subnets_and_default_route() -> None:
    routes = compiled().routes
    a, b = link_table(1), link_table(2)
    assert _table(routes, a) == {
        Route(a, 4, "100.64.1.0/24", "wan1", None, "100.64.1.2", "link"),
        Route(a, 4, "default", "wan1", "100.64.1.1", None, "universe"),
        # IPv6 has no route scopes: the kernel reports every route as universe.
        Route(a, 6, "fd00:1::/64", "wan1", None, "fd00:1::2", "universe"),
        Route(a, 6, "default", "wan1", "fd00:1::1", None, "universe"),
    }
    assert _table(routes, b) == {
        Route(b, 4, "default", "ppp0", None, None, "link"),
        Route(b, 6, "default", "ppp0", None, None, "universe"),
    }


def test_the_fallback_table_follows_the_default_policy() -> None:
    both = _table(compiled().routes, TABLE_FALLBACK)
    assert both == {
        Route(TABLE_FALLBACK, 4, "default", "", nexthops=(
            Nexthop("wan1", "100.64.1.1", 1), Nexthop("ppp0", None, 1),
        )),
        Route(TABLE_FALLBACK, 6, "default", "", nexthops=(
            Nexthop("wan1", "fd00:1::1", 1), Nexthop("ppp0", None, 1),
        )),
    }  # fmt: skip
    only_ppp = _table(compiled(live={"b"}).routes, TABLE_FALLBACK)
    assert only_ppp == {
        Route(TABLE_FALLBACK, 4, "default", "ppp0", None, None, "link"),
        Route(TABLE_FALLBACK, 6, "default", "ppp0", None, None, "universe"),
    }
    only_a = _table(compiled(live={"a"}).routes, TABLE_FALLBACK)
    assert only_a == {
        Route(TABLE_FALLBACK, 4, "default", "wan1", "100.64.1.1", None, "universe"),
        Route(TABLE_FALLBACK, 6, "default", "wan1", "fd00:1::1", None, "universe"),
    }
    assert _table(compiled(live=set()).routes, TABLE_FALLBACK) == set()


def _fallback_sources(text: str = TWO, **found: str) -> set[tuple[int, str | None]]:
    local: dict[Family, str] = {4 if key == "v4" else 6: value for key, value in found.items()}
    routes = compiled(text, local=local).routes
    return {(r.family, r.src) for r in routes if r.table == TABLE_FALLBACK}


def test_the_routers_own_traffic_takes_the_local_source_where_every_link_masquerades() -> None:
    # auto: the discovered non-uplink address of each family; IPv6 is not masqueraded here.
    assert _fallback_sources(v4="10.0.0.1", v6="fd00::1") == {(4, "10.0.0.1"), (6, None)}
    masq6 = TWO.replace("ipv6 = true", "ipv6 = true\nmasquerade6 = true")
    assert _fallback_sources(masq6, v4="10.0.0.1", v6="fd00::1") == {
        (4, "10.0.0.1"),
        (6, "fd00::1"),
    }
    assert _fallback_sources(TWO.replace("[links.a]", 'local_source = "none"\n[links.a]'),
                             v4="10.0.0.1") == {(4, None), (6, None)}  # fmt: skip
    # A configured address is used for its own family only, whatever was discovered.
    fixed = 'local_source = "fd00::9"\n' + masq6
    assert _fallback_sources(fixed, v4="10.0.0.1", v6="fd00::1") == {(4, None), (6, "fd00::9")}
    fixed = 'local_source = "10.9.9.9"\n' + masq6
    assert _fallback_sources(fixed, v4="10.0.0.1", v6="fd00::1") == {(4, "10.9.9.9"), (6, None)}
    # A link that does not masquerade its family keeps the source its own.
    plain = TWO.replace('interface = "wan1"', 'interface = "wan1"\nmasquerade = false')
    assert _fallback_sources(plain, v4="10.0.0.1") == {(4, None), (6, None)}


STEER = """
default_policy = "p"
[links.a]
interface = "wan1"
[links.b]
interface = "wan2"
[policies.p]
links = ["a", "b"]
[[rules]]
dst = ["192.168.1.0/24"]
via = "main"
[[rules]]
dst = ["192.168.1.7", "fd00:5::/64", "192.168.0.0/16"]
via = "b"
"""


def test_rules_for_a_connected_destination_get_a_steering_rule_for_the_overlap() -> None:
    subnet = ("192.168.1.0/24",)
    modems = {
        "wan1": InterfaceFacts(True, FamilyFacts("192.168.1.1", "192.168.1.10", subnet)),
        "wan2": InterfaceFacts(True, FamilyFacts("192.168.1.1", "192.168.1.11", subnet)),
    }
    config = Config.model_validate(tomllib.loads(STEER))
    rules = compile_state(config, resolve_links(config, modems), set(config.links)).rules
    steer = {r for r in rules if r.priority == PRIO_STEER}
    b = link_table(2)
    assert steer == {
        Rule(PRIO_STEER, 4, b, fwmark=0x200, fwmask=0xFF00, dst="192.168.1.7/32"),
        Rule(PRIO_STEER, 4, b, fwmark=0x200, fwmask=0xFF00, dst="192.168.1.0/24"),
    }


def test_a_link_without_ipv6_that_does_not_masquerade_keeps_the_ipv4_source_its_own() -> None:
    v4_only = TWO.replace(
        'interface = "wan1"\nipv6 = true', 'interface = "wan1"\nmasquerade = false'
    )
    assert _fallback_sources(v4_only, v4="10.0.0.1") == {(4, None), (6, None)}


def test_a_single_link_fallback_route_takes_the_local_source() -> None:
    routes = compiled(live={"a"}, local={4: "10.0.0.1"}).routes
    assert _table(routes, TABLE_FALLBACK) == {
        Route(TABLE_FALLBACK, 4, "default", "wan1", "100.64.1.1", "10.0.0.1", "universe"),
        Route(TABLE_FALLBACK, 6, "default", "wan1", "fd00:1::1", None, "universe"),
    }


def test_steering_rules_only_for_families_the_link_routes_past_other_families() -> None:
    # a routes IPv4 and IPv6, b IPv4 only: b's IPv4 overlap gets its rule although a's IPv6
    # subnet comes before b's in the list; an IPv6 destination sent to b gets none.
    text = STEER.replace('interface = "wan1"', 'interface = "wan1"\nipv6 = true').replace(
        'dst = ["192.168.1.7", "fd00:5::/64", "192.168.0.0/16"]',
        'dst = ["100.64.2.0/25", "fd00:1::/80"]',
    )
    facts = {
        "wan1": InterfaceFacts(
            True,
            FamilyFacts("100.64.1.1", "100.64.1.2", ("100.64.1.0/24",)),
            FamilyFacts("fd00:1::1", "fd00:1::2", ("fd00:1::/64",)),
        ),
        "wan2": InterfaceFacts(True, FamilyFacts("100.64.2.1", "100.64.2.2", ("100.64.2.0/24",))),
    }
    config = Config.model_validate(tomllib.loads(text))
    rules = compile_state(config, resolve_links(config, facts), set(config.links)).rules
    assert {r for r in rules if r.priority == PRIO_STEER} == {
        Rule(PRIO_STEER, 4, link_table(2), fwmark=0x200, fwmask=0xFF00, dst="100.64.2.0/25")
    }
