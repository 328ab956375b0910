"""Runtime overrides layered over the config file."""

import pytest

from multiwan.config.schema import STRATEGIES, Config
from multiwan.core.compile import compile_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.model import ActualState
from multiwan.core.plan import diff
from multiwan.daemon.runtime import CONFIG_MODE, Runtime, RuntimeError_

CONFIG = Config.model_validate(
    {
        "default_policy": "all",
        "links": {"a": {"interface": "eth1", "weight": 2}, "b": {"interface": "eth2"}},
        "policies": {"all": {"links": ["a", "b"]}, "only-b": {"links": ["b"]}},
    }
)


def test_mode_names_a_policy_or_switches_the_default_policys_strategy() -> None:
    assert Runtime().with_mode(CONFIG, "only-b").effective(CONFIG).default_policy == "only-b"
    switched = Runtime().with_mode(CONFIG, "failover").effective(CONFIG)
    assert switched.policies["all"].strategy == "failover"
    assert CONFIG.policies["all"].strategy == "balance"  # the file's config is untouched
    with pytest.raises(RuntimeError_, match="unknown mode 'fast': expected one of all, only-b"):
        Runtime().with_mode(CONFIG, "fast")


def test_weights_drain_disable_and_enable() -> None:
    runtime = Runtime().with_weight(CONFIG, "a", 7).with_link(CONFIG, "b", "drain")
    assert runtime.effective(CONFIG).links["a"].weight == 7
    assert runtime.drained == {"b"}
    runtime = runtime.with_link(CONFIG, "a", "disable").with_link(CONFIG, "b", "enable")
    assert runtime.disabled == frozenset({"a"})
    assert runtime.drained == frozenset()
    with pytest.raises(RuntimeError_, match="unknown link 'c'"):
        runtime.with_link(CONFIG, "c", "drain")
    with pytest.raises(RuntimeError_, match="weight must be 1-1000"):
        runtime.with_weight(CONFIG, "a", 0)


SWITCHED = Config.model_validate(
    {
        "default_policy": "spread",
        "links": {
            "a": {"interface": "wan1", "ipv6": True, "weight": 2},
            "b": {"interface": "wan2", "ipv6": True},
            "c": {"interface": "wan3"},
        },
        "policies": {
            "spread": {"links": ["a", "b", "c"]},
            "keep": {"strategy": "sticky", "links": ["a", "b"]},
            "pools": {"strategy": "least-loaded", "links": ["b", "c"]},
            "ecmp": {"strategy": "route", "links": ["a", "c"]},
        },
        "rules": [{"dst": ["192.0.2.0/24"], "via": "keep"}],
    }
)


def _switched_facts() -> dict[str, InterfaceFacts]:
    def family(i: int, v6: bool) -> FamilyFacts:
        if v6:
            return FamilyFacts("fe80::1", f"2001:db8:{i}::2", (f"2001:db8:{i}::/64",))
        return FamilyFacts(f"100.64.{i}.1", f"100.64.{i}.2", (f"100.64.{i}.0/24",))

    return {f"wan{i}": InterfaceFacts(True, family(i, False), family(i, True)) for i in (1, 2, 3)}


def test_every_mode_switch_rewrites_one_rule_chains_and_never_the_table() -> None:
    """`mode` to any policy, link or strategy, from any other: the nft step of the plan
    only rewrites one-rule chains (the table, its sets and their elements stay)."""
    links = resolve_links(SWITCHED, _switched_facts())
    live = {"a", "b", "c"}
    modes = [*SWITCHED.policies, *SWITCHED.links, *STRATEGIES, CONFIG_MODE]
    for before in modes:
        first = Runtime().with_mode(SWITCHED, before)
        desired = compile_state(first.effective(SWITCHED), links, live)
        actual = ActualState(desired.nft.digests, desired.routes, desired.rules, desired.sysctls)
        for after in modes:
            switched = first.with_mode(SWITCHED, after).effective(SWITCHED)
            plan = diff(compile_state(switched, links, live), actual)
            summary = plan.nft_summary or "update"
            assert summary.startswith("update"), (before, after, summary)
            assert "table" not in plan.nft_script, (before, after)
