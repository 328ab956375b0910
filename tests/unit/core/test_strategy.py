"""Which links a policy uses for a given set of live links."""

from multiwan.config.schema import Config, Policy
from multiwan.core.links import Addressing, ResolvedLink
from multiwan.core.strategy import Availability, Choice, availability, choose, pin


def _link(name: str, index: int, weight: int = 1, priority: int = 1) -> ResolvedLink:
    v4 = Addressing(gateway="192.0.2.1", source=f"192.0.2.{index + 1}", subnets=())
    return ResolvedLink(name, index, f"eth{index}", weight, priority, True, True, v4, None)


def live(names: set[str]) -> Availability:
    return Availability(frozenset(names))


LINKS = {
    "a": _link("a", 1, weight=1),
    "b": _link("b", 2, weight=2),
    "c": _link("c", 3, weight=3),
    "backup": _link("backup", 4, priority=5),
}


def test_balance_uses_every_live_link_of_the_best_tier_by_weight() -> None:
    policy = Policy(links=["a", "b", "c", "backup"])
    assert choose(policy, LINKS, live({"a", "b", "c", "backup"})).shares == (
        ("a", 1),
        ("b", 2),
        ("c", 3),
    )
    assert choose(policy, LINKS, live({"a", "c", "backup"})).shares == (("a", 1), ("c", 3))


def test_balance_falls_to_the_next_tier_only_when_the_best_is_dead() -> None:
    policy = Policy(links=["a", "backup"])
    assert choose(policy, LINKS, live({"backup"})).shares == (("backup", 1),)


def test_failover_takes_the_first_live_link_in_priority_then_member_order() -> None:
    policy = Policy(strategy="failover", links=["c", "a", "b"])
    assert choose(policy, LINKS, live({"a", "b", "c"})).shares == (("c", 1),)
    assert choose(policy, LINKS, live({"a", "b"})).shares == (("a", 1),)


def test_member_overrides_weight_and_tier() -> None:
    policy = Policy.model_validate(
        {"links": [{"link": "a", "weight": 7}, {"link": "backup", "priority": 0}]}
    )
    assert choose(policy, LINKS, live({"a", "backup"})).shares == (("backup", 1),)
    assert choose(policy, LINKS, live({"a"})).shares == (("a", 7),)


def test_nothing_live_means_last_resort() -> None:
    policy = Policy(links=["a"], last_resort="unreachable")
    assert choose(policy, LINKS, live(set())) == Choice((), "unreachable")


def test_pinned_link_falls_back_to_the_default_policy() -> None:
    config = Config.model_validate(
        {
            "default_policy": "p",
            "links": {"a": {"interface": "eth1"}},
            "policies": {"p": {"links": ["a"]}},
        }
    )
    assert pin("a", live({"a"}), "p", config) == Choice((("a", 1),))
    assert pin("a", live(set()), "p", config) == Choice((), "policy:p")


def test_reserve_links_serve_only_when_no_member_is_live() -> None:
    policy = Policy(links=["a", "b"])
    both = Availability(frozenset({"a"}), reserve=frozenset({"b"}))
    assert choose(policy, LINKS, both).shares == (("a", 1),)
    only_reserve = Availability(frozenset(), reserve=frozenset({"b"}))
    assert choose(policy, LINKS, only_reserve).shares == (("b", 2),)


def test_weight_overrides_replace_configured_weights() -> None:
    usable = Availability(frozenset({"a", "c"}), weights={"c": 1})
    assert choose(Policy(links=["a", "c"]), LINKS, usable).shares == (("a", 1), ("c", 1))


def _config(degraded_action: str) -> Config:
    health = {
        "targets": [{"kind": "icmp", "host": "192.0.2.9"}],
        "degraded_action": degraded_action,
        **({"degraded_weight": 1} if degraded_action == "weight" else {}),
    }
    return Config.model_validate(
        {
            "default_policy": "p",
            "links": {n: {"interface": f"eth{i}", "weight": 5} for i, n in enumerate("abc")},
            "policies": {"p": {"links": ["a", "b", "c"]}},
            "health": health,
        }
    )


def test_degraded_links_keep_their_share_by_default_action_keep() -> None:
    usable = availability(_config("keep"), {"a": "up", "b": "degraded", "c": "down"}, set())
    assert usable == Availability(frozenset({"a", "b"}))


def test_degraded_links_serve_only_as_last_resort() -> None:
    config = _config("last_resort")
    usable = availability(config, {"a": "up", "b": "degraded", "c": "down"}, set())
    assert usable == Availability(frozenset({"a"}), reserve=frozenset({"b"}))


def test_degraded_links_take_the_degraded_weight() -> None:
    usable = availability(_config("weight"), {"a": "up", "b": "degraded"}, set())
    assert usable == Availability(frozenset({"a", "b"}), weights={"b": 1})


def test_drained_and_disabled_links_take_no_new_connections() -> None:
    usable = availability(_config("keep"), {"a": "up", "b": "up", "c": "disabled"}, {"b"})
    assert usable == Availability(frozenset({"a"}))


def test_hashed_strategies_keep_every_member_in_the_bucket_table() -> None:
    """The backup tier's and a dead link's buckets go to the live links; nobody else's move."""
    policy = Policy(strategy="destination", links=["a", "b", "c", "backup"])
    every = choose(policy, LINKS, live({"a", "b", "c", "backup"}))
    assert every.shares == (("a", 1), ("b", 2), ("c", 3))
    assert set(every.buckets) == {"a", "b", "c"}
    without_b = choose(policy, LINKS, live({"a", "c", "backup"}))
    moved = [old for old, new in zip(every.buckets, without_b.buckets, strict=True) if old != new]
    assert set(moved) == {"b"}
    assert without_b.buckets.count("b") == 0


def test_round_robin_has_the_shares_of_balance() -> None:
    policy = Policy(strategy="round-robin", links=["a", "b", "backup"])
    choice = choose(policy, LINKS, live({"a", "b", "backup"}))
    assert (choice.shares, choice.strategy, choice.buckets) == (
        (("a", 1), ("b", 2)),
        "round-robin",
        (),
    )
