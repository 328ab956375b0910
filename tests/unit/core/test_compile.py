"""What each policy chain chooses, per family, from which links are live, in reserve or
re-weighted."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.compile import choices_for, compile_state, dynamic_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.nft import dynamic_rule, pin_chain, policy_chain
from multiwan.core.strategy import Availability, Choice

CONFIG = """
default_policy = "p"
[links.a]
interface = "wan1"
[links.b]
interface = "wan2"
ipv6 = true
[policies.p]
links = ["a", "b"]
"""
FACTS = {
    "wan1": InterfaceFacts(True, FamilyFacts("100.64.1.1", "100.64.1.2", ("100.64.1.0/24",))),
    "wan2": InterfaceFacts(
        True,
        FamilyFacts("100.64.2.1", "100.64.2.2", ("100.64.2.0/24",)),
        FamilyFacts("fd00:2::1", "fd00:2::2", ("fd00:2::/64",)),
    ),
}


def _choices(available: Availability) -> tuple[Choice, Choice]:
    config = Config.model_validate(tomllib.loads(CONFIG))
    links = resolve_links(config, FACTS)
    v4, v6 = (choices_for(config, links, available, family) for family in (4, 6))
    return v4[policy_chain("p", 4)], v6[policy_chain("p", 6)]


def test_each_family_chooses_among_the_links_that_route_it() -> None:
    v4, v6 = _choices(Availability(frozenset({"a", "b"})))
    assert (v4.shares, v6.shares) == ((("a", 1), ("b", 1)), (("b", 1),))


def test_reserve_links_serve_only_when_no_member_is_live() -> None:
    v4, v6 = _choices(Availability(frozenset(), frozenset({"a"})))
    assert (v4.shares, v6.shares) == ((("a", 1),), ())
    assert _choices(Availability(frozenset()))[0].shares == ()


def test_reduced_weights_reach_the_choice() -> None:
    v4, _ = _choices(Availability(frozenset({"a", "b"}), weights={"b": 7}))
    assert v4.shares == (("a", 1), ("b", 7))


def test_a_rule_via_a_dead_link_falls_to_main_when_the_default_is_a_link() -> None:
    text = CONFIG.replace('default_policy = "p"', 'default_policy = "a"')
    text += '[[rules]]\ndst = ["192.0.2.0/24"]\nvia = "b"\n'
    config = Config.model_validate(tomllib.loads(text))
    links = resolve_links(config, FACTS)
    choices = choices_for(config, links, Availability(frozenset({"a"})), 4)
    assert choices[pin_chain("b", 4)] == Choice((), "main")
    assert dynamic_rule(choices[pin_chain("b", 4)]) == "goto mark_resort_main"


def test_the_desired_state_names_the_routes_the_fast_path_rewrites() -> None:
    config = Config.model_validate(tomllib.loads(CONFIG))
    links = resolve_links(config, FACTS)
    for live in ({"a", "b"}, {"b"}, set()):
        desired = compile_state(config, links, live)
        assert desired.dynamic_routes == dynamic_state(config, links, live).fallback
        assert desired.dynamic_routes <= desired.routes
    assert compile_state(config, links, {"a", "b"}).dynamic_routes  # the fallback default
