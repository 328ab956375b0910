"""Whether an earlier rule matches every connection a later one does (check's shadowed-rule
warning): only when certain, field by field."""

import pytest

from multiwan.config.schema import Rule
from multiwan.core.shadow import covers, shadowed_by


def rule(**fields: object) -> Rule:
    return Rule.model_validate({"via": "a", **fields})


@pytest.mark.parametrize(
    ("wide", "narrow", "covered"),
    [
        # The input interface.
        ({"iif": "lan0"}, {"iif": "lan0", "proto": "udp"}, True),
        ({}, {"iif": "lan0"}, True),
        ({"iif": "lan0"}, {"iif": "lan1"}, False),
        ({"iif": "lan0"}, {}, False),
        # Protocols: ports without one are TCP and UDP.
        ({"dport": [53]}, {"proto": "tcp", "dport": [53]}, True),
        ({"dport": [53]}, {"proto": "udp", "dport": [53]}, True),
        ({"proto": "tcp", "dport": [53]}, {"dport": [53]}, False),
        # Ports, range by range, source and destination both.
        ({"dport": ["100-200"]}, {"dport": [100, 200, "150-160"]}, True),
        ({"dport": ["100-200"]}, {"dport": ["50-60"]}, False),
        ({"dport": ["100-200"]}, {"dport": ["150-250"]}, False),
        ({"dport": [53]}, {"proto": "udp"}, False),
        ({"sport": ["1-100"], "dport": [53]}, {"sport": [5], "dport": [53]}, True),
        ({"sport": ["1-100"], "dport": [53]}, {"sport": [5], "dport": [80]}, False),
        ({"sport": ["1-100"], "dport": [53]}, {"sport": [500], "dport": [53]}, False),
        ({"sport": ["1-100"]}, {"sport": [5], "dport": [80]}, True),
        ({"dport": [80]}, {"sport": [5], "dport": [80]}, True),
        # Addresses: each of the narrow rule's networks inside one of the wide rule's.
        ({"dst": ["10.0.0.0/8"]}, {"dst": ["10.1.0.0/16"]}, True),
        ({"dst": ["10.0.0.0/8"]}, {"dst": ["11.0.0.0/8"]}, False),
        ({"dst": ["10.0.0.0/8"]}, {}, False),
        ({"src": ["10.0.0.0/8"]}, {"src": ["10.1.0.0/16"], "dst": ["192.0.2.0/24"]}, True),
        ({"src": ["10.0.0.0/8"]}, {"src": ["11.0.0.0/8"], "dst": ["192.0.2.0/24"]}, False),
        (
            {"src": ["10.0.0.0/8"], "dst": ["192.168.0.0/16"]},
            {"src": ["10.1.0.0/16"], "dst": ["172.16.0.0/12"]},
            False,
        ),
        ({"dst": ["10.0.0.0/8", "fd00::/8"]}, {"dst": ["10.1.0.0/16", "fd00:1::/32"]}, True),
        ({"dst": ["10.0.0.0/8"]}, {"dst": ["10.1.0.0/16", "fd00:1::/32"]}, False),
    ],
)
def test_covers(wide: dict[str, object], narrow: dict[str, object], covered: bool) -> None:
    assert covers(rule(**wide), rule(**narrow)) is covered


def test_the_first_earlier_rule_that_covers_is_named() -> None:
    earlier = [rule(dst=["11.0.0.0/8"]), rule(dst=["10.0.0.0/8"]), rule()]
    assert shadowed_by(earlier, rule(dst=["10.1.0.0/16"])) == 1
    assert shadowed_by(earlier[:1], rule(dst=["10.1.0.0/16"])) is None
