"""Which backends take new connections: those up and not drained, every service listed."""

import tomllib

from multiwan.config.load import load_config_text
from multiwan.config.schema import Config
from multiwan.core.compile import compile_state
from multiwan.core.services import live_backends

SERVICES = """
[services.web]
listen = ["198.51.100.1"]
ports = [80]
backends = [{ address = "10.0.0.1" }, { address = "10.0.0.2" }, { address = "10.0.0.3" }]

[services.dns]
listen = ["198.51.100.1"]
ports = [53]
protocol = "udp"
backends = [{ address = "10.0.0.9" }]
"""


def test_live_backends_are_up_and_not_drained() -> None:
    services = Config.model_validate(tomllib.loads(SERVICES)).services
    states = {
        ("web", "10.0.0.1:80"): "up",
        ("web", "10.0.0.2:80"): "up",
        ("web", "10.0.0.3:80"): "down",
        ("dns", "10.0.0.9:53"): "degraded",
    }
    assert live_backends(services, states, {"web/10.0.0.2:80", "dns/10.0.0.1:80"}) == {
        "web": {"10.0.0.1:80"},
        "dns": set(),
    }
    assert live_backends(services, states, set()) == {
        "web": {"10.0.0.1:80", "10.0.0.2:80"},
        "dns": set(),
    }


def test_ipv6_services_match_and_translate_as_ipv6() -> None:
    text = """
[services.web6]
listen = ["2001:db8::80"]
ports = [80]
backends = [{ address = "fd00::1" }, { address = "fd00::2", port = 8080 }]
"""
    config = load_config_text(text, "m.toml")
    static = compile_state(config, [], set()).nft.static
    assert "ip6 daddr 2001:db8::80 tcp dport 80" in static
    assert "dnat ip6 to fd00::1" in static
    assert "meta l4proto tcp dnat ip6 to [fd00::2]:8080" in static
    assert " ip daddr" not in static
