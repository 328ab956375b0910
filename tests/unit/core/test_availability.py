"""`availability`: which links take new connections, from their states (the part of
core/strategy.py the daemon feeds health into)."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.strategy import Availability, availability

CONFIG = """
default_policy = "p"
[health]
targets = [{ kind = "icmp", host = "192.0.2.1" }]
degraded_action = "keep"
degraded_weight = 2
[links.a]
interface = "eth1"
[links.b]
interface = "eth2"
[policies.p]
links = ["a", "b"]
"""


def test_a_drained_link_takes_none_and_the_others_still_count() -> None:
    config = Config.model_validate(tomllib.loads(CONFIG))
    assert availability(config, {"a": "up", "b": "up"}, {"a"}) == Availability(frozenset({"b"}))


def test_a_degraded_weight_applies_only_with_degraded_action_weight() -> None:
    config = Config.model_validate(tomllib.loads(CONFIG))
    assert availability(config, {"a": "degraded", "b": "up"}, set()) == Availability(
        frozenset({"a", "b"})
    )
    weighted = Config.model_validate(tomllib.loads(CONFIG.replace('"keep"', '"weight"')))
    assert availability(weighted, {"a": "degraded", "b": "up"}, set()) == Availability(
        frozenset({"a", "b"}), weights={"a": 2}
    )
