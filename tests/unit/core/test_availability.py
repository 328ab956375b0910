"""`availability`: which links take new connections, from their states (the part of
core/strategy.py the daemon feeds health into)."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.links import resolve_links
from multiwan.core.strategy import Availability, availability, choose
from tests.unit.daemon.test_playbooks import facts

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


def test_measured_weights_count_for_auto_links_only_and_a_member_weight_goes_first() -> None:
    """An auto link's measured weight is its weight in every policy that gives it none of
    its own; a degraded weight still goes before it."""
    text = CONFIG.replace('interface = "eth1"', 'interface = "eth1"\nweight = "auto"')
    text += '[policies.q]\nlinks = [{ link = "a", weight = 7 }, "b"]\n'
    config = Config.model_validate(tomllib.loads(text))
    assert config.links["a"].fixed_weight == 10  # the initial weight, until measured
    usable = availability(config, {"a": "up", "b": "up"}, set(), {"a": 38, "b": 5})
    assert usable.measured == {"a": 38}  # b is not auto: what was measured of it is not used
    links = {link.name: link for link in resolve_links(config, facts("eth1", "eth2"))}
    assert choose(config.policies["p"], links, usable).shares == (("a", 38), ("b", 1))
    assert choose(config.policies["q"], links, usable).shares == (("a", 7), ("b", 1))
    weighted = Config.model_validate(tomllib.loads(text.replace('"keep"', '"weight"')))
    degraded = availability(weighted, {"a": "degraded", "b": "up"}, set(), {"a": 38})
    assert choose(weighted.policies["p"], links, degraded).shares == (("a", 2), ("b", 1))
