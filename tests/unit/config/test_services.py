"""Service checks: the default kind follows the protocol; kinds and protocols must fit."""

import pytest

from multiwan.config.health import TcpTarget, UdpTarget
from multiwan.config.load import ConfigError, load_config_text

BASE = """\
[services.s]
listen = ["198.51.100.1"]
ports = [53]
backends = [{ address = "10.0.0.1" }]
"""


def service(extra: str) -> object:
    config = load_config_text(BASE + extra, "m.toml")
    backend = config.services["s"].backends[0]
    return config.services["s"].backend_check(backend).targets[0]


def test_udp_service_is_checked_with_a_datagram_by_default() -> None:
    target = service('protocol = "udp"\n')
    assert isinstance(target, UdpTarget)
    assert (target.port, target.data, target.require_reply) == (53, b"", False)


def test_tcp_service_is_checked_with_a_connect_where_refused_fails() -> None:
    target = service("")
    assert isinstance(target, TcpTarget)
    assert not target.refused_ok


def test_a_tcp_check_on_a_udp_service_is_an_explicit_choice() -> None:
    assert isinstance(service('protocol = "udp"\ncheck = { kind = "tcp" }\n'), TcpTarget)


def test_udp_check_payload_and_expected_reply() -> None:
    target = service('protocol = "udp"\ncheck = { payload_hex = "00ff", expect = "ok" }\n')
    assert isinstance(target, UdpTarget)
    assert (target.data, target.expect) == (b"\x00\xff", "ok")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('protocol = "udp"\ncheck = { kind = "smtp" }\n', "check kind 'smtp' works over TCP only"),
        ('check = { kind = "udp" }\n', "check kind 'udp' needs protocol 'udp'"),
        ('check = { kind = "smtp", payload = "x" }\n', "payload: only for check kind 'udp'"),
        ('protocol = "udp"\ncheck = { payload_hex = "zz" }\n', "payload_hex"),
        ('protocol = "udp"\ncheck = { payload = "a", payload_hex = "00" }\n', "give one"),
    ],
)
def test_checks_that_cannot_work_are_errors(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + extra, "m.toml")
    assert message in str(caught.value)


def test_services_alone_are_a_valid_config_that_routes_nothing() -> None:
    config = load_config_text(BASE, "m.toml")
    assert (config.links, config.default_policy) == ({}, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "links: expected links (a multi-WAN router), services (an inbound balancer)"),
        ('[links.a]\ninterface = "eth0"\n', "default_policy: required with links"),
        (BASE + '[[rules]]\nvia = "main"\n', "rules: rules choose among links"),
        ('conntrack_helpers = ["ftp"]\n' + BASE, "conntrack_helpers: helpers keep related"),
    ],
)
def test_what_a_config_without_links_may_not_have(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    assert message in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [('"eth0"', ["eth0"]), ('["a", "b"]', ["a", "b"])])
def test_iif_is_a_name_or_a_list(value: str, expected: list[str]) -> None:
    config = load_config_text(BASE + f"iif = {value}\n", "m.toml")
    assert config.services["s"].iif == expected


def test_iif_names_must_be_interface_names() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + 'iif = ["eth 0"]\n', "m.toml")
    assert "m.toml:5: services.s.iif[0]: " in str(caught.value)


def test_a_config_without_links_says_why_each_link_setting_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text('conntrack_helpers = ["ftp"]\n' + BASE + '[[rules]]\nvia = "main"\n', "")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("conntrack_helpers", "helpers keep related connections on their link, and there are "
         "no links"),
        ("rules", "rules choose among links, and there are none"),
    ]  # fmt: skip
