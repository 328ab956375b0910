"""A service's check becomes one health target per backend: placeholders replaced exactly,
URLs built from parts."""

from typing import Any

import pytest

from multiwan.config.health import CommandTarget, HealthCheck, HttpTarget, SmtpTarget, UdpTarget
from multiwan.config.services import Service


def service(check: dict[str, Any], address: str = "10.0.0.1") -> Service:
    return Service.model_validate(
        {
            "listen": ["192.0.2.80"],
            "ports": [80],
            "backends": [{"address": address}],
            "check": check,
        }
    )


def target_of(svc: Service) -> Any:
    (target,) = svc.backend_check(svc.backends[0]).targets
    return target


def test_command_placeholders_are_replaced_and_other_braces_kept() -> None:
    command = ["sh", "-c", 'probe {address}:{port} > "${HOME}/x" {"json": {}}', "{port}{port}"]
    target = target_of(service({"kind": "command", "command": command}))
    assert isinstance(target, CommandTarget)
    assert target.argv == ["sh", "-c", 'probe 10.0.0.1:80 > "${HOME}/x" {"json": {}}', "8080"]


@pytest.mark.parametrize(
    ("path", "address", "url"),
    [
        ("/", "10.0.0.1", "http://10.0.0.1:80/"),
        ("/health?full=1&x=@y", "10.0.0.1", "http://10.0.0.1:80/health?full=1&x=@y"),
        ("//other/x", "2001:db8::1", "http://[2001:db8::1]:80//other/x"),
    ],
)
def test_check_url_always_names_the_backend(path: str, address: str, url: str) -> None:
    target = target_of(service({"kind": "http", "path": path}, address))
    assert isinstance(target, HttpTarget)
    assert target.url == url


@pytest.mark.parametrize("path", ["@evil.example/x", "x", "", "/a b", "/a\\b", "/é"])
def test_paths_that_are_not_url_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="expected a URL path starting with '/'"):
        service({"kind": "http", "path": path})


def test_command_arguments_exec_cannot_take_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold a NUL character"):
        service({"kind": "command", "command": ["check\0", "{address}"]})


def _check(check: dict[str, Any], **service: Any) -> HealthCheck:
    svc = Service.model_validate(
        {
            "listen": ["192.0.2.80"],
            "ports": [8443, 80],
            "backends": [{"address": "10.0.0.1"}],
            "check": check,
            **service,
        }
    )
    return svc.backend_check(svc.backends[0])


def test_a_backend_check_in_full_takes_the_services_timing_and_no_quality_states() -> None:
    timing = {"interval": 2.0, "timeout": 0.5, "rise": 4, "fall": 5}
    check = _check({"kind": "smtp", **timing}, flush_on_down=True)
    assert check == HealthCheck(
        targets=[SmtpTarget(kind="smtp", host="10.0.0.1", port=8443)],
        interval=2.0,
        timeout=0.5,
        rise=4,
        fall=5,
        degraded_latency_ms=None,
        degraded_loss_pct=None,
        flush_conntrack=True,
    )
    assert not _check({"kind": "tcp"}).flush_conntrack


def test_https_checks_keep_path_query_status_and_body_and_skip_certificates() -> None:
    check = {"kind": "https", "path": "/health?full=1", "expect_status": 204, "body_contains": "ok"}
    (target,) = _check(check).targets
    assert target == HttpTarget(
        kind="http",
        url="https://10.0.0.1:8443/health?full=1",
        expect_status=204,
        body_contains="ok",
        verify_tls=False,
    )


def test_udp_checks_keep_payload_and_reply() -> None:
    (text,) = _check({"payload": "ping", "require_reply": True}, protocol="udp").targets
    assert text == UdpTarget(
        kind="udp", host="10.0.0.1", port=8443, payload="ping", require_reply=True
    )
    (raw,) = _check({"payload_hex": "00ff", "expect": "pong"}, protocol="udp").targets
    assert raw == UdpTarget(
        kind="udp", host="10.0.0.1", port=8443, payload_hex="00ff", expect="pong"
    )


def test_every_printable_character_but_backslash_may_be_in_a_path() -> None:
    path = "/" + "".join(chr(c) for c in range(ord("!"), ord("~") + 1) if chr(c) != "\\")
    (target,) = _check({"kind": "http", "path": path}).targets
    assert isinstance(target, HttpTarget)
    assert target.url.startswith("http://10.0.0.1:8443/!")
    assert target.url.endswith("}~")
