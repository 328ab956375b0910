"""Warnings about topologies that cannot work: pure functions of config and facts."""

import tomllib

from multiwan.config.schema import Config
from multiwan.core.advice import Finding, advise, probe_bytes_per_month
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links

ROUTER = """
default_policy = "p"
[health]
targets = [{ kind = "icmp", host = "192.0.2.1" }]
[links.a]
interface = "wan1"
gateway = "100.64.1.1"
[links.b]
interface = "wan2"
gateway = "100.64.9.1"
[policies.p]
links = ["a", "b"]
"""
FACTS = {
    "wan1": InterfaceFacts(True, FamilyFacts(None, "100.64.1.2", ("100.64.1.0/24",))),
    "wan2": InterfaceFacts(True, FamilyFacts(None, "100.64.2.2", ("100.64.2.0/24",))),
}
CLEAN = {
    "net/ipv4/ip_forward": "1",
    "net/ipv6/conf/all/forwarding": "1",
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/wan1/rp_filter": "2",
    "net/ipv4/conf/wan2/rp_filter": "0",
}
WANTED = {"net/ipv4/conf/wan1/rp_filter": "2", "net/ipv4/conf/wan2/rp_filter": "2"}


def findings(text: str = ROUTER, **now: str) -> list[Finding]:
    config = Config.model_validate(tomllib.loads(text))
    sysctls = {**CLEAN, **{k.replace("__", "/"): v for k, v in now.items()}}
    return advise(config, resolve_links(config, FACTS), sysctls, WANTED)


def test_gateway_outside_the_subnet() -> None:
    (found,) = findings()
    assert found.field == "links.b.gateway"
    assert found.message.startswith("100.64.9.1 is outside the subnets of wan2 (100.64.2.0/24)")


def test_strict_rp_filter_on_an_uplink_or_for_all() -> None:
    fixed = ROUTER.replace("100.64.9.1", "100.64.2.1")
    assert findings(fixed) == []
    (found,) = findings(fixed, net__ipv4__conf__wan2__rp_filter="1")
    assert found.field == "links.b.interface"
    assert "strict on wan2 (net.ipv4.conf.wan2.rp_filter = 1)" in found.message
    assert "multiwan sets net.ipv4.conf.wan2.rp_filter = 2 when applying, but" in found.message
    # The kernel uses the larger of `all` and the interface's value: wan1's 2 stays loose.
    every = findings(fixed, net__ipv4__conf__all__rp_filter="1")
    assert [f.field for f in every] == ["links.b.interface"]
    assert "(net.ipv4.conf.all.rp_filter = 1)" in every[0].message


def test_forwarding_off() -> None:
    fixed = ROUTER.replace("100.64.9.1", "100.64.2.1")
    (found,) = findings(fixed, net__ipv4__ip_forward="0")
    assert (found.field, found.message.split(":")[0]) == ("links", "net.ipv4.ip_forward is 0")
    v6 = fixed.replace('gateway = "100.64.1.1"', 'gateway = "100.64.1.1"\nipv6 = true')
    assert [
        f.message.split(":")[0] for f in findings(v6, net__ipv6__conf__all__forwarding="0")
    ] == ["net.ipv6.conf.all.forwarding is 0"]


def test_unchecked_link_on_a_router_with_several() -> None:
    fixed = ROUTER.replace("100.64.9.1", "100.64.2.1")
    unchecked = fixed.replace('[health]\ntargets = [{ kind = "icmp", host = "192.0.2.1" }]', "")
    assert [f.field for f in findings(unchecked)] == ["links.a", "links.b"]
    single = unchecked.replace('links = ["a", "b"]', 'links = ["a"]')
    single = single[: single.index("[links.b]")] + single[single.index("[policies.p]") :]
    assert findings(single) == []


def test_mark_bits_another_programs_rules_use() -> None:
    config = Config.model_validate(tomllib.loads(ROUTER.replace("100.64.9.1", "100.64.2.1")))
    links = resolve_links(config, FACTS)
    wg_quick = ("ip -4 rule pref 32764 fwmark 0xca6c/0xffffffff", 0xCA6C)
    tailscale = ("ip -4 rule pref 5210 fwmark 0x80000/0xff0000", 0xFF0000)
    (found,) = advise(config, links, CLEAN, WANTED, [wg_quick, tailscale])
    assert found.field == "mark_mask"
    assert "0xff00 overlaps `ip -4 rule pref 32764 fwmark 0xca6c/0xffffffff`" in found.message
    assert "wg-quick" in found.message
    moved = config.model_copy(update={"mark_mask": 0xFF000000})
    assert advise(moved, links, CLEAN, WANTED, [wg_quick, tailscale]) == []


def test_packet_policy_over_links_with_different_far_ends() -> None:
    fixed = ROUTER.replace("100.64.9.1", "100.64.2.1")
    spread = fixed.replace('links = ["a", "b"]', 'strategy = "packet"\nlinks = ["a", "b"]')
    (found,) = findings(spread)
    assert found.field == "policies.p.strategy"
    assert "different far ends (100.64.1.1, 100.64.2.1)" in found.message
    tunnels = spread.replace('gateway = "100.64.1.1"\n', "").replace('gateway = "100.64.2.1"\n', "")
    assert findings(tunnels) == []  # point-to-point links: tunnels to one far end


def _config(text: str) -> Config:
    return Config.model_validate(tomllib.loads(text))


FIXED = ROUTER.replace("100.64.9.1", "100.64.2.1")


def test_a_rule_shadowed_by_an_earlier_one() -> None:
    rules = """
[[rules]]
name = "web"
proto = "tcp"
dport = ["1-1024"]
via = "a"
[[rules]]
dst = ["10.0.0.0/8"]
via = "main"
[[rules]]
name = "https"
proto = "tcp"
dport = [443]
dst = ["198.51.100.0/24"]
via = "b"
[[rules]]
dport = [443]
via = "b"
[[rules]]
dst = ["10.1.0.0/16"]
proto = "icmp"
via = "b"
"""
    found = findings(FIXED + rules)
    assert [(f.field, f.message) for f in found] == [
        ("rules[2]", "never matches: rules[0] ('web') before it matches every connection it "
         "does (the first match wins)"),
        ("rules[4]", "never matches: rules[1] before it matches every connection it does (the "
         "first match wins)"),
    ]  # fmt: skip
    # rules[3] (tcp and udp 443) is not covered by the tcp-only rules[0].


def test_the_lan_balanced_and_a_management_port_taken_by_a_service() -> None:
    lan = {"lan0": InterfaceFacts(True, FamilyFacts(None, "10.10.0.1", ("10.10.0.0/24",)))}
    text = (
        FIXED
        + """
[[rules]]
dst = ["10.0.0.0/8"]
via = "p"
[services.ssh]
listen = ["10.10.0.1"]
ports = [22]
backends = [{ address = "10.20.0.5" }]
"""
    )
    config = _config(text)
    found = advise(config, resolve_links(config, FACTS), CLEAN, WANTED, (), lan)
    assert [f.field for f in found] == ["rules[0].dst", "services.ssh.ports"]
    assert found[0].message.startswith("10.0.0.0/8 covers the LAN 10.10.0.0/24 (lan0) and goes")
    assert found[1].message.startswith("10.10.0.1:22 is this router's own SSH")
    fixed = text.replace('via = "p"', 'via = "main"').replace("ports = [22]", "ports = [25]")
    config = _config(fixed)
    assert advise(config, resolve_links(config, FACTS), CLEAN, WANTED, (), lan) == []


def test_health_targets_at_one_provider_or_the_gateway() -> None:
    one = FIXED.replace(
        '"192.0.2.1" }]',
        '"8.8.8.8" }, { kind = "dns", server = "8.8.4.4", query = "example.com" }]',
    )
    (found,) = findings(one)
    assert found.field == "health.targets"
    assert found.message.startswith("every target is at one provider (Google): its trouble")
    own = FIXED + '[links.a.health]\ntargets = [{ kind = "icmp", host = "100.64.1.1" }]\n'
    assert [(f.field, f.message[:45]) for f in findings(own)] == [
        ("links.a.health.targets", "only the link's own gateway (100.64.1.1) is p"),
    ]  # fmt: skip
    same = FIXED.replace('"192.0.2.1" }]', '"192.0.2.1" }, { kind = "icmp", host = "192.0.2.7" }]')
    assert [f.field for f in findings(same)] == ["health.targets"]
    spread = FIXED.replace('"192.0.2.1" }]', '"192.0.2.1" }, { kind = "http", url = '
                           '"http://203.0.113.9/" }]')  # fmt: skip
    assert findings(spread) == []
    assert findings(FIXED) == []  # a single target is not judged


def test_probe_bytes_per_month_on_metered_links() -> None:
    spread = FIXED.replace(
        '"192.0.2.1" }]', '"192.0.2.1" }, { kind = "icmp", host = "198.51.100.9" }]'
    )
    metered = spread.replace('gateway = "100.64.2.1"', 'gateway = "100.64.2.1"\nmetered = true')
    config = _config(metered)
    # 2 ICMP targets every 0.5 s: 2 * 84 bytes * 5,184,000 rounds.
    assert probe_bytes_per_month(config, "b") == 870_912_000
    (found,) = findings(metered)
    assert found.field == "links.b.metered"
    assert found.message.startswith("probes send about 871 MB a month on this metered link "
                                    "(2 target(s) every 0.5 s)")  # fmt: skip
    slow = metered.replace("[links.a]", "interval = 10\n[links.a]")
    assert findings(slow) == []  # 44 MB a month
