"""Which backends take new connections (up, not drained; backups only without a live
primary) and how the service chain spreads them."""

import re
import tomllib

from multiwan.config.load import load_config_text
from multiwan.config.schema import Config
from multiwan.config.services import Service
from multiwan.core.compile import compile_state
from multiwan.core.services import backend_chain, live_backends, service_chain, service_rule

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


def _service(scheduler: str, listen: str = "198.51.100.1") -> Service:
    return Service.model_validate(
        {
            "listen": [listen],
            "ports": [80],
            "scheduler": scheduler,
            "backends": [
                {"address": "10.0.0.1", "weight": 2},
                {"address": "10.0.0.2"},
                {"address": "10.0.0.3", "backup": True},
                {"address": "10.0.0.4", "backup": True},
            ],
        }
    )


B = [backend_chain("web", i) for i in range(4)]
EVERY = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"}


def test_the_service_rule_spreads_new_connections_over_live_primaries_by_weight() -> None:
    vmap = f"mod 3 vmap {{ 0-1 : goto {B[0]}, 2 : goto {B[1]} }}"
    assert service_rule("web", _service("weighted"), EVERY) == f"numgen random {vmap}"
    assert service_rule("web", _service("round-robin"), EVERY) == f"numgen inc {vmap}"
    hashed = service_rule("web", _service("source-hash"), EVERY)
    assert re.fullmatch(r"jhash ip saddr mod 3 seed 0x[0-9a-f]+ vmap \{ [^}]+ \}", hashed)
    hashed6 = service_rule("web", _service("source-hash", "2001:db8::1"), EVERY)
    assert hashed6.startswith("jhash ip6 saddr mod 3 seed 0x")


def test_backups_serve_only_when_no_primary_is_live() -> None:
    service = _service("weighted")
    assert service_rule("web", service, {"10.0.0.2:80", "10.0.0.4:80"}) == f"goto {B[1]}"
    backups = service_rule("web", service, {"10.0.0.3:80", "10.0.0.4:80"})
    assert backups == f"numgen random mod 2 vmap {{ 0 : goto {B[2]}, 1 : goto {B[3]} }}"
    assert service_rule("web", service, set()) == "return"


def test_backends_are_named_by_address_and_port() -> None:
    service = _service("weighted")
    v6 = Service.model_validate(
        {
            "listen": ["2001:db8::80"],
            "ports": [80],
            "backends": [{"address": "fd00::2", "port": 8080}],
        }
    )
    assert service.backends[0].key(80) == "10.0.0.1:80"
    assert v6.backends[0].key(80) == "[fd00::2]:8080"


def test_compile_takes_the_live_backends_of_each_service() -> None:
    with_links = 'default_policy = "a"\n[links.a]\ninterface = "eth1"\n' + SERVICES
    for text in (SERVICES, with_links):
        config = Config.model_validate(tomllib.loads(text))
        backends = {"web": {"10.0.0.2:80"}, "dns": set()}
        dynamic = compile_state(config, [], set(), backends=backends).nft.dynamic
        assert dynamic[service_chain("web")].startswith(f"goto {backend_chain('web', 1)} ")
        assert dynamic[service_chain("dns")].startswith("return ")


def test_backend_states_of_a_service_no_longer_configured_are_still_counted() -> None:
    # Between a reload that drops a service and the reconcile after it, the engine still
    # holds that service's backend states: they are reported, not a crash.
    states = {("gone", "10.0.0.5:80"): "up", ("gone", "10.0.0.6:80"): "down"}
    assert live_backends({}, states, set()) == {"gone": {"10.0.0.5:80"}}
