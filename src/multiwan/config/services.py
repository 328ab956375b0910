"""Inbound service balancing: a virtual IP:port spread over healthy backends with DNAT."""

import ipaddress
import re
from typing import Annotated, Literal, Self
from urllib.parse import urlunsplit

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from multiwan.config.addresses import IpAddress
from multiwan.config.base import InterfaceName, Strict
from multiwan.config.health import (
    CommandTarget,
    HealthCheck,
    HttpTarget,
    Seconds,
    SmtpTarget,
    Target,
    TcpTarget,
    UdpTarget,
    exec_argument,
    hex_bytes,
)

Port = Annotated[int, Field(ge=1, le=65535)]

#: `{address}` or `{port}` in a check command; `${...}` is shell syntax and kept as written.
PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
PLACEHOLDERS = ("address", "port")


def _command_arg(value: str) -> str:
    exec_argument(value)
    for name in PLACEHOLDER.findall(value):
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}} in {value!r}: only {{address}} and {{port}} are "
                "replaced (other braces are kept as written, `${...}` too)"
            )
    return value


def _path(value: str) -> str:
    """A URL path, appended to `http://backend:port`: without its leading '/', `@host/x`
    would make the backend's address user info and send the check to `host`."""
    if not value.startswith("/") or not all("!" <= c <= "~" and c != "\\" for c in value):
        raise ValueError(
            f"expected a URL path starting with '/' (printable ASCII, no blanks or '\\'), "
            f"got {value!r}"
        )
    return value


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


class Backend(Strict):
    address: IpAddress = Field(description="The backend's address.")
    port: Port | None = Field(None, description="Omitted: the port the client connected to.")
    weight: Annotated[int, Field(gt=0, le=1000)] = Field(
        1, description="Share of new connections (scheduler 'weighted')."
    )
    backup: bool = Field(
        False, description="Takes connections only while every primary backend is down."
    )

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.address).version

    def key(self, service_port: int) -> str:
        """How logs, status and the CLI name this backend: address:port."""
        port = self.port or service_port
        return f"[{self.address}]:{port}" if self.family == 6 else f"{self.address}:{port}"


UDP_ONLY = ("payload", "payload_hex", "expect", "require_reply")


class ServiceCheck(Strict):
    """How each backend is checked. The kind defaults to the service's protocol: a TCP
    connect (refused or reset fails at once) or a UDP datagram (port unreachable fails)."""

    kind: Literal["tcp", "udp", "smtp", "http", "https", "command"] | None = Field(
        None, description="How a backend is checked. Omitted: the service's protocol."
    )
    interval: Seconds = Field(1.0, description="Seconds between checks.")
    timeout: Seconds = Field(1.0, description="Seconds a check may take.")
    rise: Annotated[int, Field(ge=1, le=100)] = Field(
        2, description="Good checks in a row to take a backend back."
    )
    fall: Annotated[int, Field(ge=1, le=100)] = Field(
        2, description="Failed checks in a row to take a backend out."
    )
    path: Annotated[str, AfterValidator(_path)] = Field(
        "/", description="For http/https: the path requested."
    )
    expect_status: Annotated[int, Field(ge=100, le=599)] = Field(
        200, description="For http/https: the status the answer must have."
    )
    body_contains: str | None = Field(
        None, description="For http/https: text the answer's body must contain."
    )
    command: list[Annotated[str, AfterValidator(_command_arg)]] | None = Field(
        None,
        description="For kind 'command': argv run per backend ({address} and {port} replaced); "
        "exit 0 passes.",
    )
    payload: str = Field("", description="For kind 'udp': the datagram sent, as text.")
    payload_hex: str | None = Field(
        None, description="For kind 'udp': the datagram sent, as hex bytes."
    )
    expect: str | None = Field(
        None, description="For kind 'udp': text the reply must contain (a reply is required)."
    )
    require_reply: bool = Field(
        False,
        description="For kind 'udp': silence fails too (default: only an ICMP port "
        "unreachable does).",
    )

    _payload_hex = field_validator("payload_hex")(hex_bytes)

    @model_validator(mode="after")
    def _command(self) -> Self:
        if self.kind == "command" and not self.command:
            raise ValueError('check kind \'command\' needs `command = ["prog", "arg", ...]`')
        if self.kind not in (None, "udp"):
            given = [key for key in UDP_ONLY if key in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)}: only for check kind 'udp'")
        if self.payload and self.payload_hex:
            raise ValueError("payload and payload_hex: give one of them")
        return self


class Service(Strict):
    """Connections to any `listen` address and `ports` go to one backend, chosen per
    connection and kept by conntrack."""

    listen: Annotated[list[IpAddress], Field(min_length=1)] = Field(
        description="The virtual addresses clients connect to."
    )
    ports: Annotated[list[Port], Field(min_length=1)] = Field(
        description="The ports balanced at those addresses."
    )
    protocol: Literal["tcp", "udp"] = Field("tcp", description="The service's protocol.")
    scheduler: Literal["weighted", "round-robin", "source-hash"] = Field(
        "weighted",
        description="How a backend is chosen per connection: weighted random, round-robin, or "
        "a seeded hash of the client address (a client keeps its backend).",
    )
    backends: Annotated[list[Backend], Field(min_length=1)] = Field(
        description="Where connections go."
    )
    check: ServiceCheck = Field(
        default_factory=ServiceCheck, description="How each backend is checked."
    )
    snat: bool = Field(
        False,
        description="Masquerade connections to the backends (when they do not route replies "
        "back through this balancer).",
    )
    flush_on_down: bool = Field(
        False, description="Delete a failed backend's established connections."
    )
    iif: Annotated[list[InterfaceName], BeforeValidator(_listed)] = Field(
        [],
        description="Only clients arriving on these interfaces (a name or a list); empty: any, "
        "including clients on the balancer itself.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        keys = [b.key(self.ports[0]) for b in self.backends]
        if len(set(keys)) != len(keys):
            raise ValueError("a backend is listed twice")
        if len(set(self.iif)) != len(self.iif):
            raise ValueError("iif: an interface is listed twice")
        if not any(not b.backup for b in self.backends):
            raise ValueError("at least one backend must not be a backup")
        kind = self.check.kind or self.protocol
        if self.protocol == "udp" and kind not in ("udp", "tcp", "command"):
            raise ValueError(
                f"check kind {kind!r} works over TCP only: for protocol 'udp' use kind "
                "'udp', 'tcp' or 'command'"
            )
        if self.protocol == "tcp" and kind == "udp":
            raise ValueError("check kind 'udp' needs protocol 'udp'")
        families = {ipaddress.ip_address(a).version for a in self.listen}
        if self.scheduler == "source-hash" and len(families) > 1:
            raise ValueError("source-hash needs listen addresses of one family (v4 or v6)")
        return self

    def backend_check(self, backend: Backend) -> HealthCheck:
        """The health check of one backend, in the shape the link state machine uses."""
        check, port = self.check, backend.port or self.ports[0]
        host = backend.address
        target: Target
        kind = check.kind or self.protocol
        if kind == "udp":
            target = UdpTarget(
                kind="udp", host=host, port=port, payload=check.payload,
                payload_hex=check.payload_hex, expect=check.expect,
                require_reply=check.require_reply,
            )  # fmt: skip
        elif kind == "tcp":
            target = TcpTarget(kind="tcp", host=host, port=port, refused_ok=False)
        elif kind == "smtp":
            target = SmtpTarget(kind="smtp", host=host, port=port)
        elif kind in ("http", "https"):
            where = f"[{host}]" if backend.family == 6 else host
            path, _, query = check.path.partition("?")
            target = HttpTarget(
                kind="http",
                url=urlunsplit((kind, f"{where}:{port}", path, query, "")),
                expect_status=check.expect_status,
                body_contains=check.body_contains,
                verify_tls=False,
            )
        else:
            values = {"address": host, "port": str(port)}
            argv = [PLACEHOLDER.sub(lambda m: values[m[1]], a) for a in check.command or []]
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
