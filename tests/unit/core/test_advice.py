"""Warnings about topologies that cannot work: pure functions of config and facts."""

import tomllib

import pytest

from multiwan.config.schema import Config
from multiwan.core.advice import (
    Finding,
    advise,
    merged_packets,
    probe_bytes_per_month,
    sysctl_keys,
)
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


def test_advice_reads_forwarding_and_every_uplinks_rp_filter() -> None:
    config = Config.model_validate(tomllib.loads(ROUTER))
    assert sysctl_keys(config) == [
        "net/ipv4/ip_forward",
        "net/ipv6/conf/all/forwarding",
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/wan1/rp_filter",
        "net/ipv4/conf/wan2/rp_filter",
    ]


# Each warning in full, as `check` prints it: what is wrong, what it breaks, what to do.


def test_a_gateway_outside_its_subnets_in_full() -> None:
    v6 = ROUTER.replace(
        'gateway = "100.64.1.1"', 'gateway = "100.64.1.1"\nipv6 = true\ngateway6 = "fd00:9::1"'
    )
    facts = {
        **FACTS,
        "wan1": InterfaceFacts(
            True,
            FamilyFacts(None, "100.64.1.2", ("100.64.1.0/24", "100.64.5.0/24")),
            FamilyFacts(None, "fd00:1::2", ("fd00:1::/64",)),
        ),
    }
    config = Config.model_validate(tomllib.loads(v6))
    assert advise(config, resolve_links(config, facts), CLEAN, WANTED) == [
        Finding(
            "links.a.gateway6",
            "fd00:9::1 is outside the subnets of wan1 (fd00:1::/64): the kernel refuses a route "
            "through it",
        ),
        Finding(
            "links.b.gateway",
            "100.64.9.1 is outside the subnets of wan2 (100.64.2.0/24): the kernel refuses a "
            "route through it",
        ),
    ]
    # A router reached by its link-local address is outside every subnet, and fine.
    link_local = v6.replace("fd00:9::1", "fe80::1")
    config = Config.model_validate(tomllib.loads(link_local))
    found = advise(config, resolve_links(config, facts), CLEAN, WANTED)
    assert [f.field for f in found] == ["links.b.gateway"]


STRICT_WAN2 = (
    "reverse-path filtering is strict on wan2 (net.ipv4.conf.wan2.rp_filter = 1): replies that "
    "arrive on a link the main table would not choose are dropped; "
)


def _rp(now: dict[str, str | None], wanted: dict[str, str]) -> list[Finding]:
    config = Config.model_validate(tomllib.loads(FIXED))
    return advise(config, resolve_links(config, FACTS), {**CLEAN, **now}, wanted)


def test_strict_rp_filter_in_full_with_who_fixes_it() -> None:
    wan2 = "net/ipv4/conf/wan2/rp_filter"
    assert _rp({wan2: "1"}, WANTED) == [
        Finding(
            "links.b.interface",
            STRICT_WAN2 + "multiwan sets net.ipv4.conf.wan2.rp_filter = 2 when applying, but "
            "whatever set 1 (sysctl.d, NetworkManager, systemd-networkd) may set it again",
        )
    ]
    assert _rp({wan2: "1"}, {}) == [
        Finding("links.b.interface", STRICT_WAN2 + "set it to 2 (loose) or 0")
    ]


def test_what_multiwan_will_set_decides_the_advice() -> None:
    wan2, every = "net/ipv4/conf/wan2/rp_filter", "net/ipv4/conf/all/rp_filter"
    # `all` = 1 stays strict when multiwan only lowers the interface's value to 0.
    (found,) = _rp({every: "1"}, {wan2: "0", "net/ipv4/conf/wan1/rp_filter": "2"})
    assert found.field == "links.b.interface"
    assert found.message.endswith("; set it to 2 (loose) or 0")
    # ... but multiwan setting `all` loose as well fixes it.
    (found,) = _rp({wan2: "1"}, {every: "2", wan2: "0"})
    assert "; multiwan sets net.ipv4.conf.wan2.rp_filter = 0 when applying" in found.message
    # `all` set loose with the interface left alone: still the interface's own 1.
    (found,) = _rp({wan2: "1"}, {every: "2"})
    assert found.message.endswith("; set it to 2 (loose) or 0")


def test_absent_interfaces_and_unreadable_values_are_not_strict() -> None:
    wan1, wan2 = "net/ipv4/conf/wan1/rp_filter", "net/ipv4/conf/wan2/rp_filter"
    # wan1 absent (read as None) is skipped; wan2 after it is still checked.
    assert [f.field for f in _rp({wan1: None, wan2: "1"}, WANTED)] == ["links.b.interface"]
    now = {k: v for k, v in {**CLEAN, wan2: "1"}.items() if k != wan1}
    config = Config.model_validate(tomllib.loads(FIXED))
    assert [f.field for f in advise(config, resolve_links(config, FACTS), now, WANTED)] == [
        "links.b.interface"
    ]
    # No `all` value read: it counts as 0, not as strict.
    del now["net/ipv4/conf/all/rp_filter"]
    now[wan2] = "0"
    assert advise(config, resolve_links(config, FACTS), now, WANTED) == []
    assert _rp({wan2: "strict"}, WANTED) == []


def test_forwarding_off_in_full() -> None:
    config = Config.model_validate(tomllib.loads(FIXED))
    off = {**CLEAN, "net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0"}
    # No link routes IPv6: its forwarding does not matter.
    assert advise(config, resolve_links(config, FACTS), off, WANTED) == [
        Finding(
            "links",
            "net.ipv4.ip_forward is 0: LAN clients' connections are not forwarded (fine only if "
            "this machine balances its own traffic alone)",
        )
    ]


SERVICES = """
[services.web]
listen = ["198.51.100.1", "2001:db8::1"]
ports = [80]
backends = [{ address = "10.0.0.1" }]
"""


def test_forwarding_off_for_services_in_full() -> None:
    config = Config.model_validate(tomllib.loads(SERVICES))
    off = {"net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0"}
    assert advise(config, [], off, {}) == [
        Finding(
            "services",
            "net.ipv4.ip_forward is 0: connections to the backends are not forwarded (fine only "
            "if this machine balances its own traffic alone)",
        ),
        Finding(
            "services", "net.ipv6.conf.all.forwarding is 0: IPv6 connections are not forwarded"
        ),
    ]
    v4_only = Config.model_validate(tomllib.loads(SERVICES.replace(', "2001:db8::1"', "")))
    assert [f.message[:19] for f in advise(v4_only, [], off, {})] == ["net.ipv4.ip_forward"]
    assert advise(config, [], {"net/ipv4/ip_forward": "1"}, {}) == []


def test_an_unchecked_link_in_full() -> None:
    unchecked = FIXED.replace('[health]\ntargets = [{ kind = "icmp", host = "192.0.2.1" }]', "")
    config = Config.model_validate(tomllib.loads(unchecked))
    message = (
        "no health check (no [health], no [links.NAME.health]): only a lost carrier takes it "
        "out, so a dead ISP behind a live modem keeps its share of new connections"
    )
    assert advise(config, resolve_links(config, FACTS), CLEAN, WANTED) == [
        Finding("links.a", message),
        Finding("links.b", message),
    ]


def test_overlapping_marks_in_full() -> None:
    config = Config.model_validate(tomllib.loads(FIXED))
    links = resolve_links(config, FACTS)
    kube = ("ip -4 rule pref 100 fwmark 0x4000/0x4000", 0x4000)
    odd = ("ip -4 rule pref 200 fwmark 0x1000/0x1000", 0x1000)
    assert advise(config, links, CLEAN, WANTED, [kube, odd]) == [
        Finding(
            "mark_mask",
            "0xff00 overlaps `ip -4 rule pref 100 fwmark 0x4000/0x4000` (like kube-proxy (0x4000 "
            "masquerade, 0x8000 drop), wg-quick (fwmark 51820 = 0xca6c)): another program uses "
            "these mark bits; set mark_mask to bits it leaves alone",
        ),
        Finding(
            "mark_mask",
            "0xff00 overlaps `ip -4 rule pref 200 fwmark 0x1000/0x1000`: another program uses "
            "these mark bits; set mark_mask to bits it leaves alone",
        ),
    ]


def test_strict_all_with_multiwan_loosening_the_uplink_or_all() -> None:
    wan2, every = "net/ipv4/conf/wan2/rp_filter", "net/ipv4/conf/all/rp_filter"
    strict_all = (
        "reverse-path filtering is strict on wan2 (net.ipv4.conf.all.rp_filter = 1): replies "
        "that arrive on a link the main table would not choose are dropped; "
    )
    fixes = "when applying, but whatever set 1 (sysctl.d, NetworkManager, systemd-networkd) may "
    # The kernel takes the larger value: wan2 set to 2 is loose although `all` stays 1.
    assert _rp({every: "1"}, WANTED) == [
        Finding(
            "links.b.interface",
            strict_all + f"multiwan sets net.ipv4.conf.wan2.rp_filter = 2 {fixes}set it again",
        )
    ]
    # wan2 set to 0 is loose only because multiwan sets `all` to 2 as well.
    assert _rp({every: "1"}, {every: "2", wan2: "0"}) == [
        Finding(
            "links.b.interface",
            strict_all + f"multiwan sets net.ipv4.conf.wan2.rp_filter = 0 {fixes}set it again",
        )
    ]


def test_a_gateway_outside_both_subnets_of_its_link() -> None:
    facts = {
        **FACTS,
        "wan2": InterfaceFacts(
            True, FamilyFacts(None, "100.64.2.2", ("100.64.2.0/24", "100.65.2.0/24"))
        ),
    }
    config = _config(ROUTER)
    (found,) = advise(config, resolve_links(config, facts), CLEAN, WANTED)
    assert found.message == (
        "100.64.9.1 is outside the subnets of wan2 (100.64.2.0/24, 100.65.2.0/24): the kernel "
        "refuses a route through it"
    )


def test_different_far_ends_in_full() -> None:
    # A point-to-point link (no gateway) and one with a gateway; a balance policy before
    # the packet one is skipped, not the end of the check.
    text = FIXED.replace('gateway = "100.64.1.1"\n', "") + (
        '[policies.spread]\nstrategy = "packet"\nlinks = ["a", "b"]\n'
    )
    facts = {**FACTS, "wan1": InterfaceFacts(True, FamilyFacts(None, "100.64.1.2", ()))}
    config = _config(text)
    assert advise(config, resolve_links(config, facts), CLEAN, WANTED) == [
        Finding(
            "policies.spread.strategy",
            "'packet' sends the packets of one connection over every member, but they end at "
            "different far ends (100.64.2.1, point-to-point): a server sees one flow arrive "
            "from several addresses and drops it (fine for tunnels to one server, which this "
            "check cannot see through)",
        )
    ]


LAN = {"lan0": InterfaceFacts(True, FamilyFacts(None, "10.10.0.1", ("10.10.0.0/24",)))}


def _lan_findings(rules: str, daemon: str = "") -> list[Finding]:
    config = _config(FIXED + rules + daemon)
    return advise(config, resolve_links(config, FACTS), CLEAN, WANTED, (), LAN)


def test_the_lan_balanced_in_full_and_only_by_rules_that_cover_it() -> None:
    rules = """
[[rules]]
dst = ["10.10.0.0/16"]
via = "main"
[[rules]]
dst = ["192.0.2.0/24", "fd00::/8"]
via = "a"
[[rules]]
dst = ["10.0.0.0/8"]
via = "p"
[[rules]]
dst = ["0.0.0.0/0"]
via = "a"
"""
    assert _lan_findings(rules) == [
        Finding(
            "rules[2].dst",
            "10.0.0.0/8 covers the LAN 10.10.0.0/24 (lan0) and goes to p: local routes win over "
            'links anyway; give the LAN a rule with via = "main" first',
        )
    ]


def test_a_service_on_the_metrics_port_in_full() -> None:
    service = """
[services.web]
listen = ["10.10.0.1"]
ports = [9100]
backends = [{ address = "10.20.0.5" }]
"""
    daemon = '[daemon]\nmetrics_listen = "[::]:9100"\n'
    assert _lan_findings(service, daemon) == [
        Finding(
            "services.web.ports",
            "10.10.0.1:9100 is this router's own multiwan's metrics: connections to it go to "
            "the backends, and the router can no longer be reached there",
        )
    ]


GATEWAY_ONLY = (
    "only the link's own gateway (100.64.2.1) is probed: a modem answers while the line "
    "behind it is dead"
)
ONE_PROVIDER = (
    "every target is at one provider ({}): its trouble, or a change of its ICMP policy, takes "
    "every link it probes down at once; add a target of another provider"
)


def _targets(*targets: str) -> str:
    return "[" + ", ".join(targets) + "]"


def test_one_provider_and_gateway_only_in_full() -> None:
    # b's gateway comes from the interface (not the config); the shared check of a is at
    # one /24; both are reported.
    text = FIXED.replace('gateway = "100.64.2.1"\n', "").replace(
        '[{ kind = "icmp", host = "192.0.2.1" }]',
        _targets(
            '{ kind = "icmp", host = "192.0.2.1" }',
            '{ kind = "tcp", host = "192.0.2.200", port = 443 }',
        ),
    )
    text += '[links.b.health]\ntargets = [{ kind = "icmp", host = "100.64.2.1" }]\n'
    facts = {**FACTS, "wan2": InterfaceFacts(True, FamilyFacts("100.64.2.1", "100.64.2.2",
                                                                ("100.64.2.0/24",)))}  # fmt: skip
    config = _config(text)
    assert advise(config, resolve_links(config, facts), CLEAN, WANTED) == [
        Finding("health.targets", ONE_PROVIDER.format("192.0.2.0/24")),
        Finding("links.b.health.targets", GATEWAY_ONLY),
    ]


@pytest.mark.parametrize(
    ("targets", "provider"),
    [
        # http targets by their URL's host; another /24 is another provider.
        (['{ kind = "http", url = "http://192.0.2.1/" }', '{ kind = "icmp", host = "192.0.2.9" }'],
         "192.0.2.0/24"),
        (['{ kind = "icmp", host = "192.0.2.1" }', '{ kind = "icmp", host = "192.0.3.1" }'], None),
        # IPv6: one /48.
        (['{ kind = "icmp", host = "2001:db8:1::1" }',
          '{ kind = "icmp", host = "2001:db8:1:8000::1" }'], "2001:db8:1::/48"),
        (['{ kind = "icmp", host = "2001:db8::1" }', '{ kind = "icmp", host = "2001:db9::1" }'],
         None),
        # A target by name or a command: where it goes is not known.
        (['{ kind = "icmp", host = "192.0.2.1" }', '{ kind = "command", argv = ["true"] }'],
         None),
        # The gateway and something else: judged like any other targets.
        (['{ kind = "icmp", host = "100.64.2.1" }', '{ kind = "icmp", host = "198.51.100.1" }'],
         None),
    ],
)  # fmt: skip
def test_targets_at_one_provider(targets: list[str], provider: str | None) -> None:
    text = FIXED + f"[links.b.health]\ntargets = {_targets(*targets)}\n"
    expected = [Finding("links.b.health.targets", ONE_PROVIDER.format(provider))]
    assert findings(text) == (expected if provider else [])


def test_probe_bytes_by_kind() -> None:
    def month(*targets: str) -> int | None:
        text = FIXED.replace('[{ kind = "icmp", host = "192.0.2.1" }]', _targets(*targets))
        return probe_bytes_per_month(_config(text), "a")

    rounds = 30 * 86400 * 2  # every 0.5 s
    icmp, https = '{ kind = "icmp", host = "192.0.2.1" }', '{ kind = "http", url = "https://x/" }'
    assert month(icmp, https) == (84 + 6000) * rounds
    assert month('{ kind = "http", url = "http://x/" }') == 1500 * rounds
    assert month('{ kind = "command", argv = ["true"] }') == 0  # not network traffic


def test_a_check_that_cannot_be_judged_does_not_end_the_others() -> None:
    text = FIXED.replace(
        '[{ kind = "icmp", host = "192.0.2.1" }]',
        _targets('{ kind = "icmp", host = "192.0.2.1" }', '{ kind = "icmp", host = "192.0.2.9" }'),
    )
    text += '[links.a.health]\ntargets = [{ kind = "command", argv = ["true"] }]\n'
    assert findings(text) == [Finding("health.targets", ONE_PROVIDER.format("192.0.2.0/24"))]


def test_a_policy_that_mixes_auto_and_fixed_weights() -> None:
    fixed = ROUTER.replace("100.64.9.1", "100.64.2.1")
    mixed = fixed.replace('gateway = "100.64.1.1"', 'gateway = "100.64.1.1"\nweight = "auto"')
    message = (
        'mixes weight = "auto" (a: Mbit/s measured) with fixed weights (b): those count as '
        "Mbit/s beside them"
    )
    assert findings(mixed) == [Finding("policies.p", message)]
    both = mixed.replace('gateway = "100.64.2.1"', 'gateway = "100.64.2.1"\nweight = "auto"')
    assert findings(both) == []
    own = both.replace('links = ["a", "b"]', 'links = ["a", { link = "b", weight = 3 }]')
    assert [f.field for f in findings(own)] == ["policies.p"]
    four = mixed + '[policies.q]\nlinks = ["a", "a2", "b", "b2"]\n[links.a2]\ninterface = "x2"\n'
    four += 'weight = "auto"\n[links.b2]\ninterface = "x3"\n'
    messages = [f.message for f in findings(four) if f.field == "policies.q"]
    assert messages == ['mixes weight = "auto" (a, a2: Mbit/s measured) with fixed weights '
                        "(b, b2): those count as Mbit/s beside them"]  # fmt: skip


def test_gro_on_the_lan_is_named_for_each_packet_policy() -> None:
    text = ROUTER + '[policies.bond]\nstrategy = "packet"\nlinks = ["a", "b"]\n'
    config = Config.model_validate(tomllib.loads(text))
    (finding,) = merged_packets(config, ["eth0", "eth1"])
    assert finding.field == "policies.bond.strategy"
    assert finding.message.startswith("GRO is on on eth0, eth1: it merges the LAN's packets")
    assert finding.message.endswith("turn it off: ethtool -K eth0 gro off; ethtool -K eth1 gro off")
    assert merged_packets(config, []) == []
    assert merged_packets(Config.model_validate(tomllib.loads(ROUTER)), ["eth0"]) == []  # no packet
