"""Tunnel links in the config: every mistake that would stop a tunnel later is found by
`check`, with its field and line."""

import re
from pathlib import Path

import pytest

from multiwan.config.load import ConfigError, load_config_text
from multiwan.config.tunnels import parse_openvpn_client, parse_wireguard

WG = """\
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.99.1.2/24
MTU = 1380

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 203.0.113.10:51821
AllowedIPs = 0.0.0.0/0
PersistentKeepalive = 5
"""


def config(tmp_path: Path, vpn: str, wg: str = WG) -> str:
    (tmp_path / "vpn1.conf").write_text(wg)
    return f"""\
default_policy = "vpn1"
[links.lte1]
interface = "usb0"
[links.vpn1]
interface = "wg1"
{vpn}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    return [str(p) for p in caught.value.problems]


def test_a_wireguard_tunnel_over_a_link_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    text = config(tmp_path, f'tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "{path}"')
    link = load_config_text(text, "m.toml").links["vpn1"]
    assert (link.tunnel, link.over, link.tunnel_config) == ("wireguard", "lte1", str(path))


@pytest.mark.parametrize(
    ("vpn", "expected"),
    [
        ('tunnel = "wireguard"\nover = "lte9"\ntunnel_config = "{path}"',
         "m.toml:7: links.vpn1.over: unknown link 'lte9' (links: lte1)"),
        ('tunnel = "wireguard"\nover = "vpn1"\ntunnel_config = "{path}"',
         "m.toml:7: links.vpn1.over: a tunnel cannot ride on itself"),
        ('tunnel = "wireguard"\ntunnel_config = "{path}"',
         "m.toml:4: links.vpn1.over: required with tunnel = 'wireguard'"),
        ('tunnel = "openvpn"\nover = "lte1"',
         "m.toml:4: links.vpn1.tunnel_config: required with tunnel = 'openvpn'"),
        ('over = "lte1"', "m.toml:6: links.vpn1.over: only for a tunnel link (set 'tunnel')"),
        ('tunnel = "gre"\nover = "lte1"\ntunnel_config = "{path}"',
         "m.toml:6: links.vpn1.tunnel: expected one of 'wireguard', 'openvpn', got 'gre'"),
        ('tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "vpn1.conf"',
         "m.toml:8: links.vpn1.tunnel_config: expected an absolute path, got 'vpn1.conf'"),
        ('tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "{path}.missing"',
         "m.toml:8: links.vpn1.tunnel_config: cannot read '{path}.missing': No such file or "
         "directory"),
    ],
)  # fmt: skip
def test_tunnel_mistakes_are_named(tmp_path: Path, vpn: str, expected: str) -> None:
    path = tmp_path / "vpn1.conf"
    found = problems(config(tmp_path, vpn.format(path=path)))
    assert expected.format(path=path) in found, found


def test_a_tunnel_over_a_tunnel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    text = config(tmp_path, f'tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "{path}"')
    text += '[links.vpn2]\ninterface = "wg2"\ntunnel = "wireguard"\nover = "vpn1"\n'
    text += f'tunnel_config = "{path}"\n'
    assert problems(text) == [
        "m.toml:12: links.vpn2.over: 'vpn1' is a tunnel itself; a tunnel rides on a plain uplink"
    ]


@pytest.mark.parametrize(
    ("wg", "expected"),
    [
        (WG.replace("MTU = 1380", "PostUp = iptables -A"),
         "line 4: PostUp is for wg-quick, which multiwan does not run"),
        (WG.replace("MTU = 1380", "FwMark = 51820"),
         "line 4: FwMark: multiwan sets the base link's mark"),
        (WG.replace("Endpoint = 203.0.113.10:51821\n", ""),
         "expected an Endpoint in a [Peer]: the tunnel rides on its base link"),
        (WG.replace("Address = 10.99.1.2/24\n", ""),
         "expected an Address in [Interface] (the tunnel's own address)"),
        (WG.replace("10.99.1.2/24", "10.99.1.300/24"),
         "Address: expected an address/prefix, got '10.99.1.300/24'"),
        (WG.split("[Peer]", maxsplit=1)[0],
         "expected at least one [Peer] (the server the tunnel reaches)"),
        (WG.replace("PersistentKeepalive", "Keepalive"), "line 10: unknown key 'Keepalive'"),
        (WG.replace("MTU = 1380", "MTU = 9"), "line 4: MTU: expected 576-65535, got '9'"),
    ],
)  # fmt: skip
def test_wireguard_files_that_would_fail_later_are_refused(
    tmp_path: Path, wg: str, expected: str
) -> None:
    path = tmp_path / "vpn1.conf"
    vpn = f'tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "{path}"'
    found = problems(config(tmp_path, vpn, wg))
    assert len(found) == 1
    assert found[0].startswith(f"m.toml:8: links.vpn1.tunnel_config: {path}: {expected}"), found


def test_openvpn_options_multiwan_sets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    vpn = f'tunnel = "openvpn"\nover = "lte1"\ntunnel_config = "{path}"'
    found = problems(config(tmp_path, vpn, "remote 203.0.113.10 1194\n# dev tun0\ndaemon\n"))
    assert found == [
        f"m.toml:8: links.vpn1.tunnel_config: {path}: line 3: 'daemon': the process must stay "
        "in the foreground so multiwan supervises it; leave it out"
    ]


def test_wireguard_file_splits_into_setconf_addresses_and_mtu() -> None:
    parsed = parse_wireguard(WG)
    assert parsed.addresses == ("10.99.1.2/24",)
    assert parsed.mtu == 1380
    assert "Address" not in parsed.setconf
    assert "MTU" not in parsed.setconf
    assert parsed.setconf.startswith("[Interface]\nPrivateKey = yAnz")
    assert "[Peer]\nPublicKey = xTIB" in parsed.setconf


def test_check_does_not_warn_about_far_ends_of_a_packet_policy_over_tunnel_links(
    tmp_path: Path,
) -> None:
    """Tunnels to one server have gateways of their own, yet one far end."""
    from multiwan.core.advice import advise
    from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links

    (tmp_path / "vpn.conf").write_text(WG)
    tunnel = f'tunnel = "wireguard"\ntunnel_config = "{tmp_path}/vpn.conf"\nover'
    text = f"""default_policy = "bond"
[links.lte1]
interface = "usb0"
gateway = "192.168.1.1"
[links.vpn1]
interface = "wg1"
gateway = "10.99.1.1"
{tunnel} = "lte1"
[links.vpn2]
interface = "wg2"
gateway = "10.99.2.1"
{tunnel} = "lte1"
[policies.bond]
strategy = "packet"
links = ["vpn1", "vpn2"]
"""
    config = load_config_text(text, "m.toml")
    facts = {
        f"wg{k}": InterfaceFacts(True, FamilyFacts(None, f"10.99.{k}.2", (f"10.99.{k}.0/24",)))
        for k in (1, 2)
    }
    found = advise(config, resolve_links(config, facts), {}, {}, [])
    assert not [f for f in found if f.field == "policies.bond.strategy"], found
    plain = config.model_copy(update={"links": {
        n: link.model_copy(update={"tunnel": None}) for n, link in config.links.items()
    }})  # fmt: skip
    found = advise(plain, resolve_links(plain, facts), {}, {}, [])
    assert [f.field for f in found if "far ends" in f.message] == ["policies.bond.strategy"]


def test_an_openvpn_clients_file_says_what_its_server_mirrors() -> None:
    static = parse_openvpn_client(
        "# comment\nremote 203.0.113.20 1195 udp\nnobind\n--secret /k/ovpn.key 1\n"
        "ifconfig 10.99.2.2 10.99.2.1\ncipher AES-256-CBC\nping 1\nverb 3\n"
    )
    assert (static.port, static.proto) == (1195, "udp")
    assert static.secret == ("/k/ovpn.key", "1")
    assert static.ifconfig == ("10.99.2.2", "10.99.2.1")
    assert static.shared == (("cipher", "AES-256-CBC"), ("ping", "1"))  # not verb, nobind
    assert static.static
    tls = parse_openvpn_client("client\nremote vpn.example.net\nport 443\nproto tcp-client\n")
    assert (tls.port, tls.proto, tls.tls, tls.static) == (443, "tcp-client", True, False)
    inline = parse_openvpn_client(
        "remote 192.0.2.1 1194\nifconfig 10.0.0.2 10.0.0.1\n<secret>\nkey material\n</secret>\n"
    )
    assert not inline.static  # the key is inline: its copy on the server is the user's


def test_wireguard_file_keeps_exactly_what_wg_setconf_takes() -> None:
    """Comments go (also a `#` inside one), several Address lines and lists add up, and the
    private key and every endpoint are known for the checks that need them."""
    text = """\
# a wg-quick file # with two hashes
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=  # the router's # key
Address = 10.99.1.2/24, fd00:99::2/64
Address = 10.99.2.2/24
ListenPort = 51820

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 203.0.113.10:51821
AllowedIPs = 0.0.0.0/0, ::/0
[peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
Endpoint = 198.51.100.7:51820
"""
    parsed = parse_wireguard(text)
    assert parsed.setconf == (
        "[Interface]\n"
        "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
        "ListenPort = 51820\n"
        "[Peer]\n"
        "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
        "Endpoint = 203.0.113.10:51821\n"
        "AllowedIPs = 0.0.0.0/0, ::/0\n"
        "[peer]\n"
        "PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\n"
        "Endpoint = 198.51.100.7:51820\n"
    )
    assert parsed.addresses == ("10.99.1.2/24", "fd00:99::2/64", "10.99.2.2/24")
    assert parsed.mtu is None
    assert parsed.private_key == "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
    assert parsed.endpoints == ("203.0.113.10:51821", "198.51.100.7:51820")


@pytest.mark.parametrize("mtu", [576, 65535])
def test_wireguard_mtu_bounds_are_taken(mtu: int) -> None:
    assert parse_wireguard(WG.replace("MTU = 1380", f"MTU = {mtu}")).mtu == mtu


@pytest.mark.parametrize(
    ("wg", "expected"),
    [
        (WG.replace("MTU = 1380", "MTU = 575"), "line 4: MTU: expected 576-65535, got '575'"),
        (WG.replace("MTU = 1380", "MTU = 65536"),
         "line 4: MTU: expected 576-65535, got '65536'"),
        (WG.replace("[Peer]", "[Peers]"), "line 6: unknown section '[Peers]'"),
        (WG.replace("MTU = 1380", "MTU ="), "line 4: expected 'Key = value', got 'MTU ='"),
        (WG.replace("MTU = 1380", "MTU 1380"), "line 4: expected 'Key = value', got 'MTU 1380'"),
        ("PrivateKey = x\n" + WG, "line 1: PrivateKey outside [Interface] or [Peer]"),
        (WG.replace("PrivateKey", "ListenPort"),
         "expected one [Interface] section with a PrivateKey"),
        (WG + "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n",
         "expected one [Interface] section with a PrivateKey"),
        (WG + "[Peer]\nEndpoint = 198.51.100.7:51820\n", "[Peer] 2 has no PublicKey"),
    ],
)  # fmt: skip
def test_wireguard_file_mistakes_say_the_line_and_what_is_expected(wg: str, expected: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        parse_wireguard(wg)


def test_openvpn_options_are_found_with_dashes_and_after_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    vpn = f'tunnel = "openvpn"\nover = "lte1"\ntunnel_config = "{path}"'
    found = problems(config(tmp_path, vpn, "remote 203.0.113.10 1194\n\n  --dev tun0\n"))
    assert found == [
        f"m.toml:8: links.vpn1.tunnel_config: {path}: line 3: 'dev': multiwan names the device "
        "after the link's interface; leave it out"
    ]


def test_a_tunnel_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    vpn = f'tunnel = "wireguard"\nover = "lte1"\ntunnel_config = "{path}"'
    text = config(tmp_path, vpn)
    path.write_bytes(b"[Interface]\nPrivateKey = \xff\n")
    assert problems(text) == [
        f"m.toml:8: links.vpn1.tunnel_config: cannot read '{path}': not UTF-8 text"
    ]


def test_tunnel_fields_on_a_plain_link_and_every_tunnel_after_an_unknown_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vpn1.conf"
    text = config(tmp_path, 'tunnel = "gre"')
    text += f'[links.lte2]\ninterface = "usb1"\ntunnel_config = "{path}"\n'
    text += '[links.vpn2]\ninterface = "wg2"\ntunnel = "wireguard"\nover = "lte9"\n'
    text += f'tunnel_config = "{path}"\n'
    assert problems(text) == [
        "m.toml:6: links.vpn1.tunnel: expected one of 'wireguard', 'openvpn', got 'gre'",
        "m.toml:9: links.lte2.tunnel_config: only for a tunnel link (set 'tunnel')",
        "m.toml:13: links.vpn2.over: unknown link 'lte9' (links: lte1, vpn1, lte2)",
    ]


def test_a_lone_tunnel_over_an_unknown_link_says_there_are_none(tmp_path: Path) -> None:
    path = tmp_path / "vpn1.conf"
    path.write_text(WG)
    text = f"""\
default_policy = "vpn1"
[links.vpn1]
interface = "wg1"
tunnel = "wireguard"
over = "lte1"
tunnel_config = "{path}"
"""
    assert "m.toml:5: links.vpn1.over: unknown link 'lte1' (links: none)" in problems(text)


@pytest.mark.parametrize(
    ("text", "port", "proto", "secret", "ifconfig", "tls"),
    [
        ("remote 192.0.2.1\n", 1194, "udp", None, None, False),  # OpenVPN's defaults
        ("remote 192.0.2.1 1195\n", 1195, "udp", None, None, False),
        ("--remote 192.0.2.1 1197 tcp-client\n", 1197, "tcp-client", None, None, False),
        ("# remote 192.0.2.9 99\n; port 77\n\nrport 1198\n#\n", 1198, "udp", None, None, False),
        ("secret /k/key\nifconfig 10.0.0.2\n", 1194, "udp", ("/k/key", None), None, False),
        ("<ca>\nremote 192.0.2.9 99\n</ca>\nremote 192.0.2.1 1196\n", 1196, "udp", None, None,
         True),
        ("<secret>\n</secret>\n<tls-auth>\nport 77\n</tls-auth>\n", 1194, "udp", None, None,
         True),
    ],
)  # fmt: skip
def test_an_openvpn_clients_options_with_defaults_comments_dashes_and_inline_blocks(
    text: str,
    port: int,
    proto: str,
    secret: tuple[str, None] | None,
    ifconfig: None,
    tls: bool,
) -> None:
    """What the server mirrors: OpenVPN's defaults (1194, udp) where the file says nothing,
    comments and inline blocks (`<ca>`...`</ca>`: TLS-like, their lines not options) left
    out, `--option` as `option`, `rport`, a secret without a direction, an ifconfig that
    is not two addresses ignored."""
    client = parse_openvpn_client(text)
    assert (client.port, client.proto, client.secret, client.ifconfig, client.tls) == (
        port, proto, secret, ifconfig, tls
    )  # fmt: skip
