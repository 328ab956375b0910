"""Runtime overrides layered over the config file."""

import pytest

from multiwan.config.schema import Config
from multiwan.daemon.runtime import Runtime, RuntimeError_

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
