"""Rendering: exact weighted intervals, last resorts, and chain names that never collide."""

import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given

from multiwan.config.load import ConfigError, load_config_text
from multiwan.core.compile import compile_state
from multiwan.core.links import resolve_links
from multiwan.core.model import ActualState, Family, NftState
from multiwan.core.nft import (
    add_elements_script,
    dynamic_rule,
    full_script,
    with_digest,
)
from multiwan.core.nftsyntax import COMMENT_MAX_BYTES
from multiwan.core.plan import diff
from multiwan.core.strategy import Choice
from tests.unit.config.test_properties import FAST, facts_for, to_toml, valid_configs


def test_weights_become_exact_intervals_of_one_numgen_draw() -> None:
    rule = dynamic_rule(Choice((("a", 1), ("b", 2), ("c", 3))))
    assert rule == (
        "numgen random mod 6 vmap { 0 : goto mark_a, 1-2 : goto mark_b, 3-5 : goto mark_c }"
    )


def test_single_link_is_a_plain_goto() -> None:
    assert dynamic_rule(Choice((("a", 5),))) == "goto mark_a"


@pytest.mark.parametrize(
    ("resort", "rule"),
    [
        ("main", "goto mark_resort_main"),
        ("unreachable", "reject with icmpx admin-prohibited"),
        ("blackhole", "drop"),
        ("policy:p", "goto pol_p"),
    ],
)
def test_last_resorts(resort: str, rule: str) -> None:
    assert dynamic_rule(Choice((), resort)) == rule


def test_digest_changes_with_the_rule_and_is_stable() -> None:
    one, tag = with_digest("goto mark_a")
    assert one.endswith(f'comment "d={tag}"')
    assert with_digest("goto mark_a")[1] == tag != with_digest("goto mark_b")[1]


#: nft's unquoted names (scanner.l `string`), within NFT_NAME_MAXLEN.
NFT_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9/\-_.]{0,254}")
#: A `chain NAME {` line of the rendered table.
CHAIN = re.compile(r"^\tchain (\S+) \{", re.MULTILINE)


def render(data: dict[str, Any]) -> NftState:
    config = load_config_text(to_toml(data), "gen.toml")
    links = resolve_links(config, facts_for(config))
    return compile_state(config, links, set(config.links)).nft


@FAST
@given(valid_configs())
def test_any_valid_config_renders_distinct_valid_chain_names(data: dict[str, Any]) -> None:
    state = render(data)
    script = full_script(state)
    chains = CHAIN.findall(state.static)
    assert len(chains) == len(set(chains)), sorted(chains)
    assert all(NFT_NAME.fullmatch(chain) for chain in chains), chains
    assert set(state.dynamic) <= set(chains)
    assert set(re.findall(r"\b(?:goto|jump) ([^\s,;}]+)", script)) <= set(chains)
    # Only the hooks multiwan means to have: no value of the config can add one.
    hooks = re.findall(r"\bhook (\w+)", script)
    assert set(hooks) <= {"prerouting", "output", "postrouting"}
    assert len(hooks) == len(re.findall(r"\btype \w+ hook", script))
    for comment in re.findall(r'comment "([^"\n]*)"', script):
        assert 0 < len(comment.encode()) <= COMMENT_MAX_BYTES


def test_service_names_that_look_like_generated_chains_get_their_own() -> None:
    service = {"listen": ["198.51.100.1"], "ports": [80], "backends": [{"address": "10.0.0.1"}]}
    data = {
        "default_policy": "wan",
        "links": {"wan": {"interface": "eth0"}},
        "services": dict.fromkeys(("a", "a_b0", "nat_prerouting", "guard_output"), service),
    }
    chains = CHAIN.findall(render(data).static)
    assert len(chains) == len(set(chains)), sorted(chains)


def test_round_robin_takes_the_links_in_turn_by_weight() -> None:
    rule = dynamic_rule(Choice((("a", 1), ("b", 2)), strategy="round-robin"))
    assert rule == "numgen inc mod 3 vmap { 0 : goto mark_a, 1-2 : goto mark_b }"


@pytest.mark.parametrize(("family", "ip"), [(4, "ip"), (6, "ip6")])
@pytest.mark.parametrize(("strategy", "key"), [("destination", "daddr"), ("source", "saddr")])
def test_hashed_strategies_look_the_bucket_up_with_a_fixed_seed(
    family: Family, ip: str, strategy: str, key: str
) -> None:
    buckets = ("a",) * 100 + ("b",) * 156
    rule = dynamic_rule(Choice((("a", 1), ("b", 1)), strategy=strategy, buckets=buckets), family)
    assert rule == (
        f"jhash {ip} {key} mod 256 seed 0x6d77616e vmap {{ 0-99 : goto mark_a, "
        "100-255 : goto mark_b }"
    )


@pytest.mark.parametrize("strategy", ["failover", "round-robin", "destination", "source"])
def test_switching_to_a_strategy_without_sets_keeps_the_table(strategy: str) -> None:
    """`multiwan mode <strategy>` then rewrites only the one-rule chains."""
    text = (
        'default_policy = "p"\n[links.a]\ninterface = "eth1"\ngateway = "192.0.0.1"\n'
        '[links.b]\ninterface = "eth2"\ngateway = "192.0.1.1"\n[policies.p]\nlinks = ["a", "b"]\n'
    )
    before = load_config_text(text, "m.toml")
    after = load_config_text(
        text.replace("[policies.p]\n", f'[policies.p]\nstrategy = "{strategy}"\n'), "m.toml"
    )
    states = [
        compile_state(c, resolve_links(c, facts_for(c)), set(c.links)).nft for c in (before, after)
    ]
    assert states[0].digests.static == states[1].digests.static
    assert states[0].dynamic != states[1].dynamic


def test_kept_set_elements_are_put_back_as_addresses_only() -> None:
    assert add_elements_script("wired_v4", ["192.0.2.1", "192.0.2.9"]) == (
        "add element inet multiwan wired_v4 { 192.0.2.1, 192.0.2.9 }\n"
    )
    assert add_elements_script("wired_v6", []) == ""
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        add_elements_script("wired_v4", ["1.2.3.4 } ; flush ruleset"])


def test_dst_sets_are_kept_only_when_the_table_is_replaced() -> None:
    text = (
        'default_policy = "a"\n[links.a]\ninterface = "eth1"\ngateway = "192.0.0.1"\n'
        '[[rules]]\ndst_set = "wired"\nvia = "a"\n'
    )
    config = load_config_text(text, "m.toml")
    desired = compile_state(config, resolve_links(config, facts_for(config)), {"a"})
    assert desired.nft.kept_sets == ("wired_v4", "wired_v6")
    old = replace(desired.nft.digests, static="older")
    actual = ActualState(old, desired.routes, desired.rules, desired.sysctls)
    assert diff(desired, actual).nft_kept_sets == ("wired_v4", "wired_v6")
    fresh = ActualState(None, desired.routes, desired.rules, desired.sysctls)
    assert diff(desired, fresh).nft_kept_sets == ()
    with pytest.raises(ConfigError, match="give dst or dst_set, not both"):
        load_config_text(
            text.replace('dst_set = "wired"', 'dst_set = "wired"\ndst = ["10.0.0.0/8"]'), "m.toml"
        )


RULED = """\
default_policy = "all"
[links.a]
interface = "eth1"
[policies.all]
links = ["a"]
[[rules]]
via = "a"
"""


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        # Ports without a protocol match TCP and UDP, said once for both port matches.
        (
            'sport = [1024, "2000-2100"]\ndport = [53]\niif = "lan0"',
            ['iifname "lan0" meta l4proto { tcp, udp } th sport { 1024, 2000-2100 } th dport 53'],
        ),
        ('proto = "udp"\nsport = [123]', ["udp sport 123"]),
        ('proto = "icmp"', ["meta l4proto icmp"]),
        (
            'src = ["10.1.0.0/16", "fd01::/64"]\ndst = ["10.0.0.0/8", "192.168.0.0/16"]',
            ["ip saddr 10.1.0.0/16 ip daddr { 10.0.0.0/8, 192.168.0.0/16 }"],
        ),
    ],
)
def test_a_rules_match_in_nft(rule: str, matches: list[str]) -> None:
    static = compile_state(load_config_text(RULED + rule, "m.toml"), [], set()).nft.static
    found = re.findall(r"\t\t(.*) counter name \"rule_0\"", static)
    assert found == matches
