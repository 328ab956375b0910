"""Inbound service balancing: a virtual IP:port spread over healthy backends with DNAT."""

import ipaddress
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from multiwan.config.base import Strict
from multiwan.config.health import (
    CommandTarget,
    HealthCheck,
    HttpTarget,
    SmtpTarget,
    Target,
    TcpTarget,
)

Port = Annotated[int, Field(ge=1, le=65535)]


class Backend(Strict):
    address: str
    port: Port | None = None  # omitted: the port the client connected to
    weight: Annotated[int, Field(gt=0, le=1000)] = 1
    #: Takes connections only while every primary backend is down.
    backup: bool = False

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.address).version

    def key(self, service_port: int) -> str:
        """How logs, status and the CLI name this backend: address:port."""
        port = self.port or service_port
        return f"[{self.address}]:{port}" if self.family == 6 else f"{self.address}:{port}"


class ServiceCheck(Strict):
    """How each backend is checked; a refused or reset connect fails at once."""

    kind: Literal["tcp", "smtp", "http", "https", "command"] = "tcp"
    interval: Annotated[float, Field(gt=0, le=3600)] = 1.0
    timeout: Annotated[float, Field(gt=0, le=3600)] = 1.0
    rise: Annotated[int, Field(ge=1, le=100)] = 2
    fall: Annotated[int, Field(ge=1, le=100)] = 2
    path: str = "/"
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    body_contains: str | None = None
    #: For kind "command": {address} and {port} are replaced by the backend's.
    command: list[str] | None = None

    @model_validator(mode="after")
    def _command(self) -> Self:
        if self.kind == "command" and not self.command:
            raise ValueError('check kind \'command\' needs `command = ["prog", "arg", ...]`')
        return self


class Service(Strict):
    """Connections to any `listen` address and `ports` go to one backend, chosen per
    connection and kept by conntrack."""

    listen: Annotated[list[str], Field(min_length=1)]
    ports: Annotated[list[Port], Field(min_length=1)]
    protocol: Literal["tcp", "udp"] = "tcp"
    scheduler: Literal["weighted", "round-robin", "source-hash"] = "weighted"
    backends: Annotated[list[Backend], Field(min_length=1)]
    check: ServiceCheck = ServiceCheck()
    #: Masquerade connections to the backends (when they do not route replies back
    #: through this balancer).
    snat: bool = False
    #: Delete a failed backend's established connections (default: leave them alone).
    flush_on_down: bool = False

    @field_validator("listen")
    @classmethod
    def _listen(cls, values: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(v)) for v in values]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        keys = [b.key(self.ports[0]) for b in self.backends]
        if len(set(keys)) != len(keys):
            raise ValueError("a backend is listed twice")
        if not any(not b.backup for b in self.backends):
            raise ValueError("at least one backend must not be a backup")
        families = {ipaddress.ip_address(a).version for a in self.listen}
        if self.scheduler == "source-hash" and len(families) > 1:
            raise ValueError("source-hash needs listen addresses of one family (v4 or v6)")
        return self

    def backend_check(self, backend: Backend) -> HealthCheck:
        """The health check of one backend, in the shape the link state machine uses."""
        check, port = self.check, backend.port or self.ports[0]
        host = backend.address
        target: Target
        if check.kind == "tcp":
            target = TcpTarget(kind="tcp", host=host, port=port, refused_ok=False)
        elif check.kind == "smtp":
            target = SmtpTarget(kind="smtp", host=host, port=port)
        elif check.kind in ("http", "https"):
            where = f"[{host}]" if backend.family == 6 else host
            target = HttpTarget(
                kind="http",
                url=f"{check.kind}://{where}:{port}{check.path}",
                expect_status=check.expect_status,
                body_contains=check.body_contains,
                verify_tls=False,
            )
        else:
            argv = [a.format(address=host, port=port) for a in check.command or []]
            target = CommandTarget(kind="command", argv=argv)
        return HealthCheck(
            targets=[target],
            interval=check.interval,
            timeout=check.timeout,
            rise=check.rise,
            fall=check.fall,
            # A backend is in or out by its check alone: quality states are for links.
            degraded_latency_ms=None,
            degraded_loss_pct=None,
            flush_conntrack=self.flush_on_down,
        )
