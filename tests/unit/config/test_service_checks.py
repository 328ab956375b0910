"""A service's check becomes one health target per backend: placeholders replaced exactly,
URLs built from parts."""

from typing import Any

import pytest

from multiwan.config.health import CommandTarget, HttpTarget
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
