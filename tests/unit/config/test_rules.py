"""Which address families a traffic rule can match: from its addresses and its protocol."""

import pytest

from multiwan.config.schema import Rule


@pytest.mark.parametrize(
    ("rule", "families"),
    [
        ({"via": "a"}, [4, 6]),
        ({"via": "a", "dst": ["10.0.0.0/8"]}, [4]),
        ({"via": "a", "dst": ["10.0.0.0/8", "fd00::/8"]}, [4, 6]),
        ({"via": "a", "src": ["fd00::/8"], "dst": ["10.0.0.0/8", "fd01::/16"]}, [6]),
        ({"via": "a", "src": ["10.1.0.0/16", "fd00::/8"], "dst": ["10.0.0.0/8"]}, [4]),
        ({"via": "a", "proto": "icmp"}, [4]),
        ({"via": "a", "proto": "icmp", "dst": ["10.0.0.0/8", "fd00::/8"]}, [4]),
        ({"via": "a", "proto": "icmpv6"}, [6]),
        ({"via": "a", "proto": "icmpv6", "src": ["10.0.0.0/8", "fd00::/8"]}, [6]),
    ],
)
def test_a_rule_matches_the_families_its_addresses_and_protocol_allow(
    rule: dict[str, object], families: list[int]
) -> None:
    assert Rule.model_validate(rule).families() == families


def test_networks_with_host_bits_are_taken_as_their_network() -> None:
    # `10.1.2.3/8` is what people write for "the /8 around this host": nft and ip take the
    # network, so the config does too (normalised, so the rendered rule reads the same).
    rule = Rule.model_validate(
        {"via": "a", "src": ["10.1.2.3/8"], "dst": ["fd00::1:2/112", "10.9.9.9/24"]}
    )
    assert (rule.src, rule.dst) == (["10.0.0.0/8"], ["fd00::1:0/112", "10.9.9.0/24"])
