"""Route policies: an index no link uses (mark and table), a multipath route over the live
links that the fast path rewrites, and the namespace's hash policy."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.compile import dynamic_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.model import Sysctl
from multiwan.core.plan import dynamic_plan
from multiwan.core.routing import (
    policy_indexes,
    route_policies,
    route_policy_rules,
    route_sysctls,
)

CONFIG = Config.model_validate(
    tomllib.loads(
        """
default_policy = "ecmp"
[links.a]
interface = "wan1"
gateway = "100.64.1.1"
[links.b]
interface = "wan2"
gateway = "100.64.2.1"
id = 250
[policies.ecmp]
strategy = "route"
hash_policy = "l4"
links = ["a", "b"]
"""
    )
)
FACTS = {
    "wan1": InterfaceFacts(True, FamilyFacts(None, "100.64.1.2", ("100.64.1.0/24",))),
    "wan2": InterfaceFacts(True, FamilyFacts(None, "100.64.2.2", ("100.64.2.0/24",))),
}


def test_a_route_policy_takes_the_highest_index_no_link_uses() -> None:
    assert route_policies(CONFIG) == {"ecmp": 249}
    assert {rule.render() for rule in route_policy_rules(CONFIG)} == {
        "ip -4 rule pref 7710 fwmark 0xf900/0xff00 lookup 7949",
        "ip -6 rule pref 7710 fwmark 0xf900/0xff00 lookup 7949",
    }
    assert route_sysctls(CONFIG) == {
        Sysctl("net/ipv4/fib_multipath_hash_policy", "1"),
        Sysctl("net/ipv6/fib_multipath_hash_policy", "1"),
    }


def test_policies_take_the_free_indexes_down_to_the_first() -> None:
    """Links with ids 2-250 leave index 1 alone free: the one policy gets it."""
    links = {f"l{i}": {"interface": f"eth{i}", "id": i} for i in range(2, 251)}
    config = Config.model_validate(
        {"default_policy": "p", "links": links, "policies": {"p": {"links": ["l2"]}}}
    )
    assert policy_indexes(config) == {"p": 1}


def test_a_dead_link_leaves_the_multipath_route_and_an_empty_choice_deletes_it() -> None:
    links = resolve_links(CONFIG, FACTS)
    both = dynamic_state(CONFIG, links, {"a", "b"}).fallback
    (table,) = [r for r in both if r.table == 7949]
    assert len(table.nexthops) == 2
    one = dynamic_state(CONFIG, links, {"a"}).fallback
    plan, _ = dynamic_plan({}, one, {}, both)
    assert [r.render() for r in plan.route_adds if r.table == 7949] == [
        "ip -4 route default via 100.64.1.1 dev wan1 table 7949"
    ]
    none = dynamic_state(CONFIG, links, set()).fallback
    plan, _ = dynamic_plan({}, none, {}, one)
    assert [r.table for r in plan.route_deletes] == [7700, 7949]
    assert not plan.route_adds
