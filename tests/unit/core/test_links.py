"""Config + discovered interfaces -> links as compiled: addressing from config or facts,
and which links cannot be routed now."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.links import Addressing, FamilyFacts, InterfaceFacts, ResolvedLink, resolve_links
from multiwan.core.ownership import MarkSpace

CONFIG = """
default_policy = "p"
mark_mask = 0xff0000
[links.a]
interface = "wan1"
ipv6 = true
masquerade6 = true
weight = 3
priority = 2
[links.b]
interface = "wan2"
id = 1
gateway = "100.64.2.254"
source = "100.64.2.9"
masquerade = false
[links.c]
interface = "tun0"
enabled = false
[policies.p]
links = ["a", "b", "c"]
"""
WAN1 = InterfaceFacts(
    True,
    FamilyFacts("100.64.1.1", "100.64.1.2", ("100.64.1.0/24",)),
    FamilyFacts("fd00:1::1", "fd00:1::2", ("fd00:1::/64",)),
    index=7,
)
WAN2 = InterfaceFacts(True, FamilyFacts(None, "100.64.2.2", ("100.64.2.0/24",)), index=8)
TUN0 = InterfaceFacts(True, FamilyFacts(None, "10.8.0.2"), index=9)


def _resolve(
    facts: dict[str, InterfaceFacts], unroutable: set[str] | None = None
) -> list[ResolvedLink]:
    config = Config.model_validate(tomllib.loads(CONFIG))
    return resolve_links(config, facts, frozenset(unroutable or ()))


def test_links_take_config_values_over_facts_and_ids_in_file_order() -> None:
    a, b, c = _resolve({"wan1": WAN1, "wan2": WAN2, "tun0": TUN0})
    marks = MarkSpace(0xFF0000)
    assert a == ResolvedLink(
        "a", 2, "wan1", 3, 2, True, True,
        Addressing("100.64.1.1", "100.64.1.2", ("100.64.1.0/24",)),
        Addressing("fd00:1::1", "fd00:1::2", ("fd00:1::/64",)),
        ifindex=7, masquerade6=True, marks=marks,
    )  # fmt: skip
    assert b == ResolvedLink(
        "b", 1, "wan2", 1, 1, False, True,
        Addressing("100.64.2.254", "100.64.2.9", ("100.64.2.0/24",)), None,
        ifindex=8, masquerade6=False, marks=marks,
    )  # fmt: skip
    # No subnet: point-to-point, the device is the next hop.
    assert (c.index, c.enabled, c.v4) == (3, False, Addressing(None, "10.8.0.2", ()))


def test_links_that_cannot_be_routed_now() -> None:
    no_gateway = InterfaceFacts(True, FamilyFacts(None, "100.64.1.2", ("100.64.1.0/24",)))
    no_source = InterfaceFacts(True, FamilyFacts("100.64.1.1", None, ("100.64.1.0/24",)))
    down = InterfaceFacts(True, WAN1.v4, admin_up=False)
    for wan1 in (no_gateway, no_source, down):
        assert not _resolve({"wan1": wan1, "wan2": WAN2})[0].routable, wan1
    a, b, c = _resolve({"wan1": WAN1, "wan2": WAN2}, unroutable={"b"})
    assert (a.routable, b.routable, c.routable) == (True, False, False)
    assert (c.ifindex, c.v4, c.v6) == (None, None, None)  # tun0 absent


def test_configured_ipv6_gateway_and_source_win_over_facts() -> None:
    text = CONFIG.replace(
        "masquerade6 = true", 'masquerade6 = true\ngateway6 = "fe80::9"\nsource6 = "fd00:1::99"'
    )
    config = Config.model_validate(tomllib.loads(text))
    a = resolve_links(config, {"wan1": WAN1})[0]
    assert a.v6 == Addressing("fe80::9", "fd00:1::99", ("fd00:1::/64",))
