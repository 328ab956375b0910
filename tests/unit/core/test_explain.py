"""explain: rule order, policy choice with shares, tiers, drain, last resorts and the ip rule
that routes, all from values (the lab test checks it against real traffic)."""

from dataclasses import astuple, replace

import pytest

from multiwan.config.schema import Config, Rule
from multiwan.core.explain import Explanation, Flow, explain, rule_matches
from multiwan.core.links import Addressing, ResolvedLink, resolve_links
from multiwan.core.strategy import Availability, availability

CONFIG = Config.model_validate(
    {
        "default_policy": "all",
        "links": {
            "a": {"interface": "eth1", "weight": 3},
            "b": {"interface": "eth2"},
            "c": {"interface": "eth3", "priority": 2},
        },
        "policies": {
            "all": {"links": ["a", "b", "c"]},
            "strict": {"links": ["a"], "last_resort": "unreachable"},
        },
        "rules": [
            {"name": "lan", "dst": ["10.0.0.0/8"], "via": "main"},
            {"name": "web", "proto": "tcp", "dport": [443, "8000-8100"], "via": "b"},
            {"src": ["10.10.0.50/32"], "via": "strict"},
            {"iif": "guest0", "via": "c"},
        ],
    }
)


def _links(config: Config = CONFIG) -> list[ResolvedLink]:
    resolved = resolve_links(config, {})
    for k, link in enumerate(resolved, start=1):
        addressing = Addressing(f"100.64.{k}.1", f"100.64.{k}.2", (f"100.64.{k}.0/24",))
        resolved[k - 1] = ResolvedLink(**{**link.__dict__, "v4": addressing})
    return resolved


def _explain(flow: Flow, states: dict[str, str], drained: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    return explain(CONFIG, _links(), availability(CONFIG, states, drained), states, flow)


UP = {"a": "up", "b": "up", "c": "up"}


def test_the_first_matching_rule_decides() -> None:
    web = Flow("10.10.0.2", "203.0.113.10", "tcp", 8080)
    assert rule_matches(CONFIG.rules[1], web)
    assert not rule_matches(CONFIG.rules[1], Flow("10.10.0.2", "203.0.113.10", "udp", 8080))
    answer = _explain(web, UP)
    assert "rules[1] ('web') matches first: via b" in answer.reasons
    assert answer.link == "b"
    assert answer.routes[0].ip_rule == "pref 7710 fwmark 0x200/0xff00 lookup 7702"


def test_balance_lists_candidates_with_shares_and_tiers() -> None:
    answer = _explain(Flow("10.10.0.2", "203.0.113.10", "tcp", 80), UP)
    assert answer.link is None  # a weighted random choice
    assert [(r.link, r.share, r.table) for r in answer.routes] == [
        ("a", 0.75, "7701"), ("b", 0.25, "7702")
    ]  # fmt: skip
    text = answer.render()
    assert "a [up, tier 1]: weight 3, 75% of new connections" in text
    assert "c [up, tier 2]: priority 2: tier 1 is preferred while it has a live link" in text


def test_down_and_drained_links_leave_the_lower_tier() -> None:
    states = {"a": "down", "b": "up", "c": "up"}
    answer = _explain(Flow("10.10.0.2", "203.0.113.10"), states, frozenset({"b"}))
    assert answer.link == "c"
    text = answer.render()
    assert "a [down, tier 1]: down: takes no new connections" in text
    assert "b [up, tier 1]: up: takes no new connections" in text  # drained
    assert "no --iif: rules that name an input interface are skipped" in text


def test_main_rules_and_last_resorts_route_by_main() -> None:
    lan = _explain(Flow("10.10.0.2", "10.20.0.1"), UP)
    assert lan.link is None
    assert [(r.mark, r.table) for r in lan.routes] == [(0xFE00, "main")]
    nothing = _explain(Flow("10.10.0.2", "198.51.100.1"), dict.fromkeys(UP, "down"))
    assert [(r.mark, r.table) for r in nothing.routes] == [(0xFD00, "main")]
    strict = _explain(Flow("10.10.0.50", "198.51.100.1"), {"a": "down", "b": "up", "c": "up"})
    assert strict.routes == ()
    assert "last resort unreachable, the connection is rejected" in strict.render()


def test_a_pinned_link_that_is_down_falls_to_the_default_policy() -> None:
    answer = _explain(Flow("10.10.0.2", "203.0.113.10", "tcp", 443), {"a": "up", "b": "down"})
    assert answer.link == "a"
    assert any(line.startswith("link b takes no new connections") for line in answer.reasons)


def test_uplink_arrivals_and_main_routes() -> None:
    inbound = _explain(Flow("198.51.100.7", "100.64.3.2", "tcp", 22, iif="eth3"), UP)
    assert inbound.link == "c"
    guest = _explain(Flow("192.168.5.2", "198.51.100.1", iif="guest0"), UP)
    assert guest.link == "c"
    specific = explain(CONFIG, _links(), Availability(frozenset(UP)), UP,
                       Flow("10.10.0.2", "100.64.1.9"), main_specific="100.64.1.0/24")  # fmt: skip
    assert specific.link is None
    assert specific.routes[0].ip_rule.startswith("pref 7705 lookup main suppress_prefixlength 0")


def test_the_routers_sockets_bound_to_a_link_address_are_pinned() -> None:
    pinned = _explain(Flow("100.64.2.2", "203.0.113.10", "tcp", 80), UP)
    assert pinned.link == "b"
    assert pinned.reasons[0].startswith("from 100.64.2.2, link b's own address: a socket")
    # A rule that sends the destination to a link decides first (output's steered dsts).
    steering = Config.model_validate(
        {**CONFIG.model_dump(), "rules": [{"dst": ["203.0.113.0/24"], "via": "c"}]}
    )
    flow = Flow("100.64.2.2", "203.0.113.10", "tcp", 80)
    answer = explain(steering, _links(steering), availability(steering, UP, set()), UP, flow)
    assert answer.link == "c"


# The whole answer, as `multiwan explain` prints it: each line is what an operator reads.


def test_the_answer_in_full_for_a_balanced_policy() -> None:
    answer = _explain(Flow("10.10.0.2", "203.0.113.10", "tcp", 80), UP)
    assert answer.render() == (
        "no --iif: rules that name an input interface are skipped\n"
        "no rule matches: the default policy all\n"
        "policy all (balance) for IPv4:\n"
        "  a [up, tier 1]: weight 3, 75% of new connections\n"
        "  b [up, tier 1]: weight 1, 25% of new connections\n"
        "  c [up, tier 2]: priority 2: tier 1 is preferred while it has a live link\n"
        "  a (75%): mark 0x100 -> pref 7710 fwmark 0x100/0xff00 lookup 7701 -> table 7701\n"
        "  b (25%): mark 0x200 -> pref 7710 fwmark 0x200/0xff00 lookup 7702 -> table 7702\n"
    )


def test_the_answer_in_full_for_a_pinned_link_that_is_down() -> None:
    states = {"a": "up", "b": "down", "c": "up"}
    answer = _explain(Flow("10.10.0.2", "203.0.113.10", "tcp", 443), states)
    assert answer.render() == (
        "no --iif: rules that name an input interface are skipped\n"
        "rules[1] ('web') matches first: via b\n"
        "link b takes no new connections (down): the default decides\n"
        "policy all (balance) for IPv4:\n"
        "  a [up, tier 1]: weight 3, 100% of new connections\n"
        "  b [down, tier 1]: down: takes no new connections\n"
        "  c [up, tier 2]: priority 2: tier 1 is preferred while it has a live link\n"
        "  a (100%): mark 0x100 -> pref 7710 fwmark 0x100/0xff00 lookup 7701 -> table 7701\n"
    )


def test_the_answer_in_full_for_last_resorts_and_main() -> None:
    rejected = _explain(Flow("10.10.0.50", "198.51.100.1"), {"a": "down", "b": "up", "c": "up"})
    assert rejected.render() == (
        "no --iif: rules that name an input interface are skipped\n"
        "rules[2] matches first: via strict\n"
        "policy strict (balance) for IPv4:\n"
        "  a [down, tier 1]: down: takes no new connections\n"
        "no member is live: last resort unreachable, the connection is rejected\n"
    )
    main = "pref 32766 from all lookup main (the kernel's default rule) -> table main\n"
    resort = _explain(Flow("10.10.0.2", "198.51.100.1"), dict.fromkeys(UP, "down"))
    assert resort.render().endswith(
        "  c [down, tier 2]: down: takes no new connections\n"
        "no member is live: last resort main (marked so it moves back later)\n"
        f"  main: mark 0xfd00 -> {main}"
    )
    bypass = _explain(Flow("10.10.0.2", "10.20.0.1"), UP)
    assert bypass.render() == (
        "no --iif: rules that name an input interface are skipped\n"
        "rules[0] ('lan') matches first: via main\n"
        "main: the normal routing table decides (bypass mark)\n"
        f"  main: mark 0xfe00 -> {main}"
    )


def test_a_blackhole_last_resort_drops() -> None:
    config = Config.model_validate(
        {
            **CONFIG.model_dump(),
            "policies": {"all": {"links": ["a"], "last_resort": "blackhole"}},
            "rules": [],
        }
    )
    states = {"a": "down", "b": "up", "c": "up"}
    flow = Flow("10.10.0.2", "198.51.100.1")
    answer = explain(config, _links(config), availability(config, states, set()), states, flow)
    assert answer.routes == ()
    assert (
        answer.reasons[-1] == "no member is live: last resort blackhole, the connection is dropped"
    )


def test_the_answer_in_full_for_arrivals() -> None:
    inbound = _explain(Flow("198.51.100.7", "100.64.3.2", "tcp", 22, iif="eth3"), UP)
    assert inbound.render() == (
        "arrives on eth3, link c's interface: marked for it, so its replies leave the way it "
        "came\n"
        "  c (100%): mark 0x300 -> pref 7710 fwmark 0x300/0xff00 lookup 7703 -> table 7703\n"
    )
    guest = _explain(Flow("192.168.5.2", "198.51.100.1", iif="guest0"), UP)
    assert guest.render() == (
        "rules[3] matches first: via c\n"
        "link c is up: it takes it\n"
        "  c (100%): mark 0x300 -> pref 7710 fwmark 0x300/0xff00 lookup 7703 -> table 7703\n"
    )
    # An interface no link and no rule names is like no --iif, without the note.
    other = _explain(Flow("192.168.5.2", "198.51.100.1", iif="lan0"), UP)
    assert other.reasons == ("no rule matches: the default policy all", *other.reasons[1:])
    assert other.reasons[1] == "policy all (balance) for IPv4:"


FAILOVER = Config.model_validate(
    {
        "default_policy": "fo",
        "links": {
            "a": {"interface": "eth1"},
            "b": {"interface": "eth2", "enabled": False},
            "c": {"interface": "eth3"},
            "d": {"interface": "eth4"},
        },
        "policies": {"fo": {"strategy": "failover", "links": ["a", "b", "c", "d"]}},
    }
)


def _failover(available: Availability, states: dict[str, str], dst: str = "198.51.100.1"):  # type: ignore[no-untyped-def]
    src = "fd00::1" if ":" in dst else "10.0.0.1"
    return explain(FAILOVER, _links(FAILOVER), available, states, Flow(src, dst))


def test_each_member_says_why_it_takes_no_connection() -> None:
    states = {"a": "up", "b": "up", "c": "up", "d": "up"}
    first = _failover(Availability(frozenset({"a", "c", "d"})), states)
    assert first.reasons[2:] == (
        "policy fo (failover) for IPv4:",
        "  a [up, tier 1]: weight 1, 100% of new connections",
        "  b [up, tier 1]: enabled = false in the config",
        "  c [up, tier 1]: failover: a comes first",
        "  d [up, tier 1]: failover: a comes first",
    )
    assert first.link == "a"
    # No member has an IPv6 route: the last resort, main.
    v6 = _failover(Availability(frozenset({"a", "c", "d"})), states, "2001:db8::1")
    assert v6.reasons[2:] == (
        "policy fo (failover) for IPv6:",
        "  a [up, tier 1]: no IPv6 route (interface absent, down, or no gateway/address)",
        "  b [up, tier 1]: enabled = false in the config",
        "  c [up, tier 1]: no IPv6 route (interface absent, down, or no gateway/address)",
        "  d [up, tier 1]: no IPv6 route (interface absent, down, or no gateway/address)",
        "no member is live: last resort main (marked so it moves back later)",
    )


def test_degraded_members_kept_as_a_last_resort() -> None:
    states = {"a": "up", "b": "up", "c": "degraded", "d": "down"}
    kept = _failover(Availability(frozenset({"a"}), frozenset({"c"})), states)
    assert kept.reasons[5] == (
        "  c [degraded, tier 1]: degraded, kept as a last resort while another member is live"
    )
    states["a"] = "down"
    used = _failover(Availability(frozenset(), frozenset({"c"})), states)
    assert used.reasons[5] == (
        "  c [degraded, tier 1]: weight 1, 100% of new connections"
        " (degraded, kept as a last resort: no member is up)"
    )
    assert used.link == "c"
    assert used.reasons[6] == "  d [down, tier 1]: down: takes no new connections"


def _rule(**fields: object) -> Rule:
    return Rule.model_validate({"via": "a", **fields})


@pytest.mark.parametrize(
    ("rule", "flow", "matches"),
    [
        # Ports without a protocol: TCP and UDP, each port list checked, a flow without ports
        # does not match.
        (_rule(dport=[53]), Flow("10.0.0.1", "192.0.2.1", "udp", 53), True),
        (_rule(dport=[53]), Flow("10.0.0.1", "192.0.2.1", "tcp", 53), True),
        (_rule(dport=[53]), Flow("10.0.0.1", "192.0.2.1", "icmp", 53), False),
        (_rule(dport=[53]), Flow("10.0.0.1", "192.0.2.1", "udp"), False),
        (_rule(sport=["1000-1100"]), Flow("10.0.0.1", "192.0.2.1", "udp", 9, 1100), True),
        (_rule(sport=["1000-1100"]), Flow("10.0.0.1", "192.0.2.1", "udp", 1000, 999), False),
        (_rule(sport=[7], dport=[9]), Flow("10.0.0.1", "192.0.2.1", "tcp", 9, 7), True),
        (_rule(sport=[7], dport=[9]), Flow("10.0.0.1", "192.0.2.1", "tcp", 9, 8), False),
        (_rule(sport=[7], dport=[9]), Flow("10.0.0.1", "192.0.2.1", "tcp", 8, 7), False),
        # A protocol alone; ICMP is IPv4's (IPv6 has icmpv6).
        (_rule(proto="icmp"), Flow("10.0.0.1", "192.0.2.1", "icmp"), True),
        (_rule(proto="icmp"), Flow("10.0.0.1", "192.0.2.1", "udp"), False),
        (_rule(proto="icmp"), Flow("fd00::1", "2001:db8::1", "icmp"), False),
        # Addresses, of the flow's family.
        (_rule(dst=["2001:db8::/32"]), Flow("fd00::1", "2001:db8::1"), True),
        (_rule(dst=["2001:db8::/32"]), Flow("fd00::1", "2001:db9::1"), False),
        (_rule(src=["10.0.0.0/8", "fd00::/8"]), Flow("fd00::1", "2001:db8::1"), True),
        (_rule(iif="lan0"), Flow("10.0.0.1", "192.0.2.1", iif="lan0"), True),
        (_rule(iif="lan0"), Flow("10.0.0.1", "192.0.2.1", iif="lan1"), False),
    ],
)
def test_a_rule_matches_as_its_nft_match_does(rule: Rule, flow: Flow, matches: bool) -> None:
    assert rule_matches(rule, flow) is matches


def test_services_are_named_when_address_and_port_match() -> None:
    text = {
        **CONFIG.model_dump(),
        "services": {
            "web": {
                "listen": ["198.51.100.80"],
                "ports": [80],
                "backends": [{"address": "10.0.0.10"}],
            }
        },
    }
    config = Config.model_validate(text)

    def reasons(dst: str, port: int) -> tuple[str, ...]:
        flow = Flow("203.0.113.9", dst, "tcp", port)
        return explain(config, _links(config), availability(config, UP, set()), UP, flow).reasons

    assert reasons("198.51.100.80", 80)[0] == (
        "198.51.100.80:80 is service web: DNAT to one of its live backends (multiwan status), "
        "routed from there"
    )
    assert not any("service" in line for line in reasons("198.51.100.80", 81))
    assert not any("service" in line for line in reasons("198.51.100.81", 80))


def test_a_config_without_links_routes_nothing() -> None:
    config = Config.model_validate(
        {
            "services": {
                "web": {
                    "listen": ["198.51.100.80"],
                    "ports": [80],
                    "backends": [{"address": "10.0.0.10"}],
                }
            }
        }
    )
    answer = explain(config, [], Availability(frozenset()), {}, Flow("10.0.0.1", "192.0.2.1"))
    assert answer == Explanation(("no links: multiwan routes nothing",), ())
    assert answer.render() == "no links: multiwan routes nothing\n"


def test_a_socket_on_a_links_address_is_pinned_unless_a_dst_rule_steers_it() -> None:
    # rules[1] matches (tcp 443, no dst), but only rules with a dst steer the router's own
    # sockets (nft output); this one is still pinned to link a.
    flow = Flow("100.64.1.2", "203.0.113.10", "tcp", 443)
    answer = _explain(flow, UP)
    assert answer.render() == (
        "from 100.64.1.2, link a's own address: a socket of this router bound to it is pinned "
        "to that link before any rule\n"
        "  a (100%): mark 0x100 -> pref 7710 fwmark 0x100/0xff00 lookup 7701 -> table 7701\n"
    )


def test_the_ip_rule_that_answers_for_steered_destinations() -> None:
    # Link b's connected subnet holds a destination sent to b: a `to` rule answers before
    # main's connected route; a destination outside it is routed by the mark.
    steering = Config.model_validate(
        {**CONFIG.model_dump(), "rules": [{"dst": ["100.64.2.0/25"], "via": "b"}]}
    )
    links = _links(steering)
    usable = availability(steering, UP, {"a"})

    def route(dst: str) -> tuple[str, str]:
        answer = explain(steering, links, usable, UP, Flow("10.10.0.2", dst), "100.64.2.0/24")
        ((_, _, _, ip_rule, table),) = [astuple(r) for r in answer.routes]
        return ip_rule, table

    assert route("100.64.2.9") == ("pref 7700 to 100.64.2.0/25 fwmark 0x200/0xff00 lookup 7702",
                                   "7702")  # fmt: skip
    assert route("100.64.2.200") == (
        "pref 7705 lookup main suppress_prefixlength 0 (main has 100.64.2.0/24)", "main"
    )  # fmt: skip


def test_ipv6_flows_follow_the_ipv6_rules() -> None:
    links = _links()
    links[1] = replace(links[1], v6=Addressing("fe80::1", "2001:db8:2::2", ("2001:db8:2::/64",)))
    answer = explain(CONFIG, links, availability(CONFIG, UP, set()), UP,
                     Flow("fd00::5", "2001:db8:99::1"))  # fmt: skip
    assert answer.link == "b"
    assert answer.routes[0].ip_rule == "pref 7710 fwmark 0x200/0xff00 lookup 7702"
    assert answer.reasons[2:] == (
        "policy all (balance) for IPv6:",
        "  a [up, tier 1]: no IPv6 route (interface absent, down, or no gateway/address)",
        "  b [up, tier 1]: weight 1, 100% of new connections",
        "  c [up, tier 2]: no IPv6 route (interface absent, down, or no gateway/address)",
    )


def test_a_last_resort_from_a_links_address_follows_its_source_rule() -> None:
    # A socket bound to b's address, its destination steered to c by a rule; c and the
    # default policy have no live link: marked for the last resort, the `from` rule of b's
    # address still sends it by b's table.
    steering = Config.model_validate(
        {**CONFIG.model_dump(), "rules": [{"dst": ["203.0.113.0/24"], "via": "c"}]}
    )
    down = dict.fromkeys(UP, "down")
    flow = Flow("100.64.2.2", "203.0.113.10")
    answer = explain(steering, _links(steering), availability(steering, down, set()), down, flow)
    assert [(r.mark, r.ip_rule, r.table) for r in answer.routes] == [
        (0xFD00, "pref 7720 from 100.64.2.2/32 lookup 7702", "7702")
    ]


def test_the_tier_is_that_of_the_live_members() -> None:
    # a (tier 1) is down: tier 2 is the best live one, so c is second in failover order,
    # not kept out by a's tier. A member without a known state says so.
    config = Config.model_validate(
        {
            **FAILOVER.model_dump(),
            "links": {
                "a": {"interface": "eth1"},
                "b": {"interface": "eth2", "priority": 2},
                "c": {"interface": "eth3", "priority": 2},
                "d": {"interface": "eth4", "priority": 3},
            },
        }
    )
    states = {"a": "down", "b": "up", "c": "up"}
    available = Availability(frozenset({"b", "c", "d"}))
    flow = Flow("10.0.0.1", "198.51.100.1")
    answer = explain(config, _links(config), available, states, flow)
    assert answer.reasons[3:] == (
        "  a [down, tier 1]: down: takes no new connections",
        "  b [up, tier 2]: weight 1, 100% of new connections",
        "  c [up, tier 2]: failover: b comes first",
        "  d [unknown, tier 3]: priority 3: tier 2 is preferred while it has a live link",
    )


def test_a_link_with_a_reduced_weight_is_live_not_reserve() -> None:
    available = Availability(frozenset({"a", "c"}), weights={"a": 1})
    answer = _failover(available, {"a": "degraded", "b": "up", "c": "up", "d": "down"})
    assert answer.reasons[3] == "  a [degraded, tier 1]: weight 1, 100% of new connections"


def test_a_pinned_link_without_a_state_is_unknown() -> None:
    answer = _explain(Flow("192.168.5.2", "198.51.100.1", iif="guest0"), {"a": "up", "b": "up"})
    assert "link c takes no new connections (unknown): the default decides" in answer.reasons


def test_a_link_disabled_in_the_config_sets_no_tier() -> None:
    # The daemon's health knows nothing of `enabled = false`: b may be "up" and live; it
    # still takes nothing, and its better priority does not hide tier 2's failover order.
    config = Config.model_validate(
        {
            **FAILOVER.model_dump(),
            "links": {
                "a": {"interface": "eth1", "priority": 2},
                "b": {"interface": "eth2", "enabled": False},
                "c": {"interface": "eth3", "priority": 2},
                "d": {"interface": "eth4", "priority": 2},
            },
        }
    )
    up = dict.fromkeys("abcd", "up")
    answer = explain(config, _links(config), Availability(frozenset(up)), up,
                     Flow("10.0.0.1", "198.51.100.1"))  # fmt: skip
    assert answer.reasons[3:] == (
        "  a [up, tier 2]: weight 1, 100% of new connections",
        "  b [up, tier 1]: enabled = false in the config",
        "  c [up, tier 2]: failover: a comes first",
        "  d [up, tier 2]: failover: a comes first",
    )
