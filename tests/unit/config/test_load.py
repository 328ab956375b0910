"""Config errors: every mistake reported at once, each as FILE:LINE: FIELD: what and why."""

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from multiwan.config.load import (
    ConfigError,
    Problem,
    format_problems,
    load_config,
    load_config_text,
)
from multiwan.config.schema import MAX_LINKS, Config
from multiwan.core import ownership

GOOD = """\
default_policy = "balanced"

[links.wan1]
interface = "eth1"
gateway = "192.0.2.1"

[links.wan2]
interface = "eth2"
weight = 2

[policies.balanced]
links = ["wan1", "wan2"]

[[rules]]
dst = ["10.0.0.0/8"]
via = "main"

[[rules]]
proto = "tcp"
dport = [
  22,
  "8000-8080",
]
via = "wan1"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    assert str(caught.value) == format_problems(caught.value.problems)
    return [str(p) for p in caught.value.problems]


def test_good_config_loads() -> None:
    config = load_config_text(GOOD, "m.toml")
    assert config.link_ids() == {"wan1": 1, "wan2": 2}
    assert config.rules[1].dport == ["22", "8000-8080"]


#: The start of a service, inserted before the first rule (line 14); cases add its addresses.
SERVICE = "[services.web]\nports = [80]"
NAME = "a name (a letter, then up to 30 letters, digits, '_' or '-')"

MISTAKES = {
    "unknown key at top level": (
        ('default_policy = "balanced"', 'default_policy = "balanced"\ncolour = 1'),
        "m.toml:2: colour: unknown key; expected one of: default_policy, links, policies, rules,",
    ),
    "unknown key in a link": (
        ("weight = 2", "wieght = 2"),
        "m.toml:9: links.wan2.wieght: unknown key; expected one of: interface, id, gateway,",
    ),
    "unknown key in a rule": (
        ('via = "main"', 'via = "main"\nport = 1'),
        "m.toml:17: rules[0].port: unknown key; expected one of: name, src, dst, proto, sport,",
    ),
    "unknown key in an inline table": (
        ('"wan1", "wan2"]', '"wan1", { link = "wan2", wieght = 1 }]'),
        "m.toml:12: policies.balanced.links[1].wieght: unknown key; expected one of: link,",
    ),
    "bad CIDR": (
        ('dst = ["10.0.0.0/8"]', 'dst = ["10.0.0.0/8", "10.0.0.0/33"]'),
        "m.toml:15: rules[0].dst[1]: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
    ),
    "bad IP": (
        ('gateway = "192.0.2.1"', 'gateway = "192.0.2.300"'),
        "m.toml:5: links.wan1.gateway: '192.0.2.300' does not appear to be an IPv4 or IPv6",
    ),
    "wrong family for gateway6": (
        ('gateway = "192.0.2.1"', 'gateway6 = "192.0.2.1"'),
        "m.toml:5: links.wan1.gateway6: expected an IPv6 address, got '192.0.2.1'",
    ),
    "weight zero": (
        ("weight = 2", "weight = 0"),
        "m.toml:9: links.wan2.weight: must be > 0, got 0",
    ),
    "weight not a number": (
        ("weight = 2", 'weight = "abc"'),
        "m.toml:9: links.wan2.weight: expected an integer 1-1000 or \"auto\", got 'abc'",
    ),
    "number written as a string": (
        ("weight = 2", 'weight = "2"'),
        "m.toml:9: links.wan2.weight: expected an integer 1-1000 or \"auto\", got '2'",
    ),
    "boolean written as a string": (
        ("weight = 2", 'masquerade = "yes"'),
        "m.toml:9: links.wan2.masquerade: expected true or false, got 'yes'",
    ),
    "port 70000 in a multi-line array": (
        ("  22,", "  70000,"),
        "m.toml:21: rules[1].dport[0]: expected ports 1-65535 with LOW <= HIGH, got 70000",
    ),
    "reversed range": (
        ('"8000-8080"', '"20-10"'),
        "m.toml:22: rules[1].dport[1]: expected ports 1-65535 with LOW <= HIGH, got '20-10'",
    ),
    "port of the wrong type": (
        ("  22,", "  true,"),
        "m.toml:21: rules[1].dport[0]: expected a port (1-65535) or 'LOW-HIGH', got true",
    ),
    "choice not offered": (
        ('proto = "tcp"', 'proto = "sctp"'),
        "m.toml:19: rules[1].proto: expected one of 'tcp', 'udp', 'icmp', 'icmpv6', got 'sctp'",
    ),
    "ports with icmp": (
        ('proto = "tcp"', 'proto = "icmp"'),
        "m.toml:18: rules[1]: ports need proto 'tcp', 'udp' or no proto (both)",
    ),
    "missing key": (
        ('interface = "eth2"\n', ""),
        "m.toml:7: links.wan2.interface: required key is missing: expected an interface name",
    ),
    "bad link name": (
        ("[links.wan2]", '[links."2wan"]'),
        f"m.toml:7: links.2wan: expected {NAME}, got '2wan'",
    ),
    "policy member of no kind": (
        ('"wan1", "wan2"]', '"wan1", 2]'),
        f"m.toml:12: policies.balanced.links[1]: expected {NAME} or a table, got 2",
    ),
    "empty policy": (
        ('links = ["wan1", "wan2"]', "links = []"),
        "m.toml:12: policies.balanced.links: needs at least 1 item(s), got 0",
    ),
    "unknown link in a policy": (
        ('links = ["wan1", "wan2"]', 'links = ["wan1", "wan3"]'),
        "m.toml:12: policies.balanced.links[1]: unknown link 'wan3' (links: wan1, wan2)",
    ),
    "duplicate interface": (
        ('interface = "eth2"', 'interface = "eth1"'),
        "m.toml:8: links.wan2.interface: 'eth1' is already used by link 'wan1'",
    ),
    "duplicate id": (
        ("weight = 2", "id = 4\n[links.wan3]\ninterface = 'eth3'\nid = 4"),
        "m.toml:12: links.wan3.id: 4 is already used by 'wan2'",
    ),
    "link and policy of one name": (
        ("[policies.balanced]", "[policies.wan1]\nlinks = ['wan1']\n[policies.balanced]"),
        "m.toml:11: policies.wan1: 'wan1' is also the name of a link",
    ),
    "main is reserved": (
        ("[links.wan2]", "[links.main]"),
        "m.toml:7: links.main: 'main' is reserved (main table)",
    ),
    "unknown via": (
        ('via = "main"', 'via = "nowhere"'),
        "m.toml:16: rules[0].via: 'nowhere' is not a policy, a link or 'main'",
    ),
    "unknown default policy": (
        ('default_policy = "balanced"', 'default_policy = "fast"'),
        "m.toml:1: default_policy: unknown policy 'fast' (policies: balanced)",
    ),
    "unknown health target kind": (
        ("weight = 2", 'health.targets = [{ kind = "ping", host = "192.0.2.9" }]'),
        "m.toml:9: links.wan2.health.targets[0]: unknown kind 'ping'; expected one of: 'icmp',",
    ),
    "member weight 0 (it would render an empty numgen interval)": (
        ('links = ["wan1", "wan2"]', 'links = ["wan1", { link = "wan2", weight = 0 }]'),
        "m.toml:12: policies.balanced.links[1].weight: must be > 0",
    ),
    "rule name that would end the nft comment and add a chain": (
        (
            'via = "main"',
            'name = "x\\"\\n}\\nchain evil {\\ntype filter hook input priority 0; policy drop;"'
            '\nvia = "main"',
        ),
        "m.toml:16: rules[0].name: expected a rule name (a letter or digit, then up to 63",
    ),
    "rule name too long for an nft comment": (
        ('via = "main"', f'name = "{"n" * 65}"\nvia = "main"'),
        "m.toml:16: rules[0].name: expected a rule name",
    ),
    "optional field names what it expects": (
        ('via = "main"', 'iif = "a b"\nvia = "main"'),
        "m.toml:16: rules[0].iif: expected an interface name",
    ),
    "scope id in an address": (
        ('gateway = "192.0.2.1"', 'source6 = "fe80::1%eth1"'),
        "m.toml:5: links.wan1.source6: IPv6 scope ids ('%...') are not taken here, "
        "got 'fe80::1%eth1'",
    ),
    "scoped IPv6 gateway": (
        ('gateway = "192.0.2.1"', 'gateway6 = "fe80::1%eth1"'),
        "m.toml:5: links.wan1.gateway6: give the gateway without its scope id ('fe80::1'): "
        "it is reached on the link's interface",
    ),
    "scope id in a network": (
        ('dst = ["10.0.0.0/8"]', 'dst = ["10.0.0.0/8", "fe80::%x/64"]'),
        "m.toml:15: rules[0].dst[1]: IPv6 scope ids ('%...') are not taken here",
    ),
    "scope id in a health target": (
        ("weight = 2", 'health.targets = [{ kind = "tcp", host = "fe80::1%eth2", port = 1 }]'),
        "m.toml:9: links.wan2.health.targets[0].host: IPv6 scope ids ('%...') are not taken",
    ),
    "scope id in a health URL": (
        ("weight = 2", 'health.targets = [{ kind = "http", url = "http://[fe80::1%25eth2]/" }]'),
        "m.toml:9: links.wan2.health.targets[0].url: IPv6 scope ids ('%...') are not taken",
    ),
    "scope id in a service's listen address": (
        (
            "[[rules]]\ndst",
            f"{SERVICE}\nlisten = ['192.0.2.80', 'fe80::80%eth0']\n"
            "backends = [{ address = '10.0.0.1' }]\n[[rules]]\ndst",
        ),
        "m.toml:16: services.web.listen[1]: IPv6 scope ids ('%...') are not taken here",
    ),
    "scope id in a backend address": (
        (
            "[[rules]]\ndst",
            f"{SERVICE}\nlisten = ['192.0.2.80']\n"
            "backends = [{ address = 'fe80::1%eth0' }]\n[[rules]]\ndst",
        ),
        "m.toml:17: services.web.backends[0].address: IPv6 scope ids ('%...') are not taken",
    ),
    "probe interval below 50 ms": (
        (
            "weight = 2",
            'health = { targets = [{ kind = "icmp", host = "192.0.2.9" }], interval = 0.01 }',
        ),
        "m.toml:9: links.wan2.health.interval: must be >= 0.05, got 0.01",
    ),
    "fast interval of zero": (
        (
            "weight = 2",
            'health = { targets = [{ kind = "icmp", host = "192.0.2.9" }], fast_interval = 0 }',
        ),
        "m.toml:9: links.wan2.health.fast_interval: must be >= 0.05, got 0",
    ),
    "service check timeout below 50 ms": (
        (
            "[[rules]]\ndst",
            f"{SERVICE}\nlisten = ['192.0.2.80']\nbackends = [{{ address = '10.0.0.1' }}]\n"
            "check = { timeout = 0.001 }\n[[rules]]\ndst",
        ),
        "m.toml:18: services.web.check.timeout: must be >= 0.05, got 0.001",
    ),
    "service check path that would name another host": (
        (
            "[[rules]]\ndst",
            f"{SERVICE}\nlisten = ['192.0.2.80']\nbackends = [{{ address = '10.0.0.1' }}]\n"
            "check = { kind = 'http', path = '@evil.example/x' }\n[[rules]]\ndst",
        ),
        "m.toml:18: services.web.check.path: expected a URL path starting with '/' (printable "
        "ASCII, no blanks or '\\'), got '@evil.example/x'",
    ),
    "unknown placeholder in a check command": (
        (
            "[[rules]]\ndst",
            f"{SERVICE}\nlisten = ['192.0.2.80']\nbackends = [{{ address = '10.0.0.1' }}]\n"
            "check = { kind = 'command', command = ['nc', '{host}', '{port}'] }\n[[rules]]\ndst",
        ),
        "m.toml:18: services.web.check.command[1]: unknown placeholder {host} in '{host}': only "
        "{address} and {port} are replaced (other braces are kept as written, `${...}` too)",
    ),
    "DNS query that is no DNS name": (
        (
            "weight = 2",
            'health.targets = [{ kind = "dns", server = "192.0.2.53", query = "a..b" }]',
        ),
        "m.toml:9: links.wan2.health.targets[0].query: expected a DNS name, got 'a..b': "
        "A DNS label is empty.",
    ),
    "DNS expect of the wrong kind for its rdtype": (
        (
            "weight = 2",
            'health.targets = [{ kind = "dns", server = "192.0.2.53", query = "example.com", '
            'rdtype = "AAAA", expect = "192.0.2.1" }]',
        ),
        "m.toml:9: links.wan2.health.targets[0].expect: expected an IPv6 address (no scope id) "
        "for rdtype 'AAAA', got '192.0.2.1'",
    ),
    "status group that does not exist": (
        (
            'default_policy = "balanced"',
            'default_policy = "balanced"\n[daemon]\nstatus_group = "mwta-none"',
        ),
        "m.toml:3: daemon.status_group: no group 'mwta-none' on this system",
    ),
    "NUL in a command probe's argument": (
        ("weight = 2", 'health.targets = [{ kind = "command", argv = ["true", "a\\u0000b"] }]'),
        "m.toml:9: links.wan2.health.targets[0].argv[1]: a command argument cannot hold a NUL "
        "character, got 'a\\x00b'",
    ),
    "health URL with a port out of range": (
        ("weight = 2", 'health.targets = [{ kind = "http", url = "http://192.0.2.1:99999/" }]'),
        "m.toml:9: links.wan2.health.targets[0].url: expected an http:// or https:// URL with a "
        "host (and port 1-65535), got 'http://192.0.2.1:99999/'",
    ),
    "health URL with a blank": (
        ("weight = 2", 'health.targets = [{ kind = "http", url = "http://exa mple.com/" }]'),
        "m.toml:9: links.wan2.health.targets[0].url: expected an http:// or https:// URL",
    ),
    "relative hooks directory": (
        (
            'default_policy = "balanced"',
            'default_policy = "balanced"\n[daemon]\nhooks_dir = "hooks"',
        ),
        "m.toml:3: daemon.hooks_dir: expected an absolute path, got 'hooks'",
    ),
    "main is reserved for a policy too": (
        ("[policies.balanced]", "[policies.main]\nlinks = ['wan1']\n[policies.balanced]"),
        "m.toml:11: policies.main: 'main' is reserved (main table)",
    ),
    "unknown link given as a table": (
        ('links = ["wan1", "wan2"]', 'links = ["wan1", { link = "wan3" }]'),
        "m.toml:12: policies.balanced.links[1]: unknown link 'wan3' (links: wan1, wan2)",
    ),
    "unknown link after a member of the wrong type": (
        ('links = ["wan1", "wan2"]', 'links = [2, "wan3"]'),
        "m.toml:12: policies.balanced.links[1]: unknown link 'wan3' (links: wan1, wan2)",
    ),
    "link listed twice": (
        ('links = ["wan1", "wan2"]', 'links = ["wan1", "wan2", { link = "wan1" }]'),
        "m.toml:12: policies.balanced.links[2]: link 'wan1' listed twice",
    ),
    "unknown default policy among several": (
        (
            'default_policy = "balanced"',
            'default_policy = "fast"\n[policies.other]\nlinks = ["wan1"]',
        ),
        "m.toml:1: default_policy: unknown policy 'fast' (policies: other, balanced)",
    ),
    "default policy missing": (
        ('default_policy = "balanced"', ""),
        "m.toml: default_policy: required with links: the policy (or link) for traffic no "
        "rule matches",
    ),
    "bad TOML": (
        ("[links.wan2]", "[links.wan2"),
        "m.toml:7: invalid TOML: Expected ']' at the end of a table declaration",
    ),
}


@pytest.mark.parametrize(("change", "expected"), MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_is_named_with_its_line(change: tuple[str, str], expected: str) -> None:
    found = problems(GOOD.replace(*change))
    assert any(p.startswith(expected) for p in found), found


REFUSED_INTERFACES = ["eth*", "eth\\1", "a\0b", "wan\t1", "wan 1", "eth/1", "eth:1", 'e"1']
REFUSED_INTERFACES += [".", "..", "", "é" * 8, "x" * 16, "eà"]


@pytest.mark.parametrize("name", REFUSED_INTERFACES)
def test_interface_names_the_kernel_or_nft_would_refuse(name: str) -> None:
    # 'à' is C3 A0 in UTF-8, and the kernel counts the byte 0xA0 as a blank.
    found = problems(GOOD.replace('interface = "eth2"', f"interface = {json.dumps(name)}"))
    assert found == [
        "m.toml:8: links.wan2.interface: expected an interface name (1-15 bytes; no blanks, "
        f"control characters, '/', ':', '*', '\\' or quotes; not '.' or '..'), got {name!r}"
    ]


@pytest.mark.parametrize("name", ["eé1", "eth0.100", "x" * 15, "wg-home_1", "...", "WAN-X"])
def test_interface_names_the_kernel_takes(name: str) -> None:
    config = load_config_text(GOOD.replace('"eth2"', json.dumps(name)), "m.toml")
    assert config.links["wan2"].interface == name


def test_every_problem_is_reported_in_one_pass() -> None:
    text = (
        GOOD.replace("weight = 2", "weight = -1")
        .replace('via = "main"', 'via = "x"')
        .replace('"wan1", "wan2"]', '"wan1", "ghost"]')
        .replace("  22,", "  0,")
    ) + "colour = 1\n"
    assert problems(text) == [
        "m.toml:9: links.wan2.weight: must be > 0, got -1",
        "m.toml:12: policies.balanced.links[1]: unknown link 'ghost' (links: wan1, wan2)",
        "m.toml:16: rules[0].via: 'x' is not a policy, a link or 'main'",
        "m.toml:21: rules[1].dport[0]: expected ports 1-65535 with LOW <= HIGH, got 0",
        "m.toml:25: rules[1].colour: unknown key; expected one of: "
        "name, src, dst, proto, sport, dport, iif, dst_set, via, log",
    ]


def test_problem_reads_like_a_compiler_message() -> None:
    assert str(Problem("a.toml", 3, "links.x.weight", "must be > 0")) == (
        "a.toml:3: links.x.weight: must be > 0"
    )
    assert str(Problem("a.toml", None, "", "cannot read: gone")) == "a.toml: cannot read: gone"


def test_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.toml")
    assert str(caught.value) == f"{tmp_path}/missing.toml: cannot read: No such file or directory"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"binary\.toml: cannot read: not UTF-8 text"):
        load_config(binary)
    with pytest.raises(ConfigError, match="cannot read: Is a directory"):
        load_config(tmp_path)


EXAMPLE = Path(__file__).parents[3] / "src/multiwan/examples/multiwan.toml"


def test_shipped_example_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert sorted(config.links) == ["lte1", "lte2", "wan1"]
    assert config.default_policy == "balanced"
    assert {p.strategy for p in config.policies.values()} == {
        "balance",
        "failover",
        "least-loaded",
        "sticky",
    }


def test_shipped_example_is_valid_with_every_optional_setting() -> None:
    """`#key = value` lines are optional settings: uncommented, they must be valid too."""
    text = re.sub(r"(?m)^(\s*)#(?=[^\s#])", r"\1", EXAMPLE.read_text())
    config = load_config_text(text, "all.toml")
    assert config.services
    assert config.links["wan1"].id == 1


def keys_of(model: type[BaseModel]) -> set[str]:
    """Every key a config may contain under `model`, recursively."""
    keys = set(model.model_fields)
    pending = [f.annotation for f in model.model_fields.values()]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= keys_of(annotation)
        pending += get_args(annotation)
    return keys


def test_shipped_example_shows_every_setting() -> None:
    text = EXAMPLE.read_text()
    headers = re.findall(r"(?m)^#?\[+([\w.-]+)\]", text)
    written = set(re.findall(r"(\w+) =", text)) | {k for h in headers for k in h.split(".")}
    assert keys_of(Config) - written == set()


def test_more_links_than_tables_and_marks_is_a_problem() -> None:
    links = "".join(f'[links.l{i}]\ninterface = "eth{i}"\n' for i in range(MAX_LINKS + 1))
    assert problems(f'default_policy = "l0"\n{links}') == [
        f"m.toml:2: links: at most 250 links (a routing table and mark each), got {MAX_LINKS + 1}"
    ]
    assert MAX_LINKS == ownership.MAX_LINKS
    fits = "".join(f'[links.l{i}]\ninterface = "eth{i}"\n' for i in range(MAX_LINKS))
    ids = load_config_text(f'default_policy = "l0"\n{fits}', "m.toml").link_ids()
    assert sorted(ids.values()) == list(range(1, MAX_LINKS + 1))


def test_every_policy_takes_a_mark_and_table_beside_the_links() -> None:
    """Any policy can be switched to `route` at run time (`multiwan mode route`), so each
    one keeps a mark and a table of its own from the start."""
    links = "".join(f'[links.l{i}]\ninterface = "eth{i}"\n' for i in range(MAX_LINKS - 1))
    policy = '[policies.{}]\nlinks = ["l0"]\n'
    fits = f'default_policy = "a"\n{links}{policy.format("a")}'
    assert set(load_config_text(fits, "m.toml").policies) == {"a"}
    assert problems(fits + policy.format("b")) == [
        "m.toml:500: policies: links and policies take a mark and table each: at most 250 together"
    ]


LISTEN = 'IPV4:PORT, [IPV6]:PORT (an address, port 1-65535), or "" for none'


@pytest.mark.parametrize(
    "listen",
    ["localhost:9560", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9560", "[::1]",
     "[127.0.0.1]:80", "[fe80::1%eth0]:80", ":9560", "127.0.0.1:http", "1.2.3.4:٣"],
)  # fmt: skip
def test_metrics_listen_is_a_literal_address_and_port(listen: str) -> None:
    text = f'{GOOD}[daemon]\nmetrics_listen = "{listen}"\n'
    assert problems(text) == [
        f"m.toml:26: daemon.metrics_listen: expected {LISTEN}, got {listen!r}"
    ]


@pytest.mark.parametrize(
    ("listen", "kept"),
    [("", ""), ("0.0.0.0:9560", "0.0.0.0:9560"), ("[0:0::1]:09560", "[::1]:9560")],
)
def test_metrics_listen_takes_addresses_or_nothing(listen: str, kept: str) -> None:
    config = load_config_text(f'{GOOD}[daemon]\nmetrics_listen = "{listen}"\n', "m.toml")
    assert config.daemon.metrics_listen == kept


def test_status_group_that_exists_is_taken() -> None:
    config = load_config_text(f'{GOOD}[daemon]\nstatus_group = "root"\n', "m.toml")
    assert config.daemon.status_group == "root"


def test_route_policies_must_agree_on_the_kernels_one_hash_policy() -> None:
    text = (
        'default_policy = "a"\n[links.w1]\ninterface = "eth1"\n'
        '[policies.a]\nstrategy = "route"\nlinks = ["w1"]\n'
        '[policies.b]\nstrategy = "route"\nhash_policy = "l4"\nlinks = ["w1"]\n'
    )
    assert problems(text) == [
        "m.toml:9: policies.b.hash_policy: 'l4' differs from 'l3' of policy 'a': the kernel "
        "has one multipath hash setting"
    ]
    assert load_config_text(text.replace('hash_policy = "l4"\n', ""), "m.toml")


def test_names_that_resolve_to_nothing_say_there_are_none() -> None:
    found = problems('default_policy = "fast"\n[policies.bond]\nlinks = ["wan1"]\n')
    assert "m.toml:3: policies.bond.links[0]: unknown link 'wan1' (links: none)" in found
    found = problems('default_policy = "fast"\n[links.wan1]\ninterface = "eth1"\n')
    assert found == ["m.toml:1: default_policy: unknown policy 'fast' (policies: none)"]


def test_the_most_links_leave_no_mark_for_a_policy() -> None:
    links = "".join(f'[links.l{i}]\ninterface = "eth{i}"\n' for i in range(MAX_LINKS))
    assert problems(f'default_policy = "a"\n{links}[policies.a]\nlinks = ["l0"]\n') == [
        "m.toml:502: policies: links and policies take a mark and table each: at most 250 together"
    ]
