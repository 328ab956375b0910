"""explain: rule order, policy choice with shares, tiers, drain, last resorts and the ip rule
that routes, all from values (the lab test checks it against real traffic)."""

from multiwan.config.schema import Config
from multiwan.core.explain import Flow, explain, rule_matches
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
