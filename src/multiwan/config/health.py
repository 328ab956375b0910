"""Health-check settings: which targets prove a link works, how often, and the thresholds
that move it between up, degraded and down."""

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from multiwan.config.addresses import IpAddress
from multiwan.config.base import Strict

#: Probe intervals and timeouts. The lower bound is a floor for sane probing: rounds faster
#: than 50 ms flood the links and the daemon's loop with probes (all links are probed at
#: once), and a shorter timeout fails healthy paths on ordinary jitter.
Seconds = Annotated[
    float,
    Field(
        ge=0.05,
        le=3600,
        description="seconds, 0.05-3600 (faster probing floods the links, shorter timeouts "
        "fail on ordinary jitter)",
    ),
]


def _off_at_zero(value: float | None) -> float | None:
    return None if value == 0 else value


#: A quality threshold; 0 turns it off (TOML has no null).
LatencyMs = Annotated[Annotated[float, Field(ge=0, le=60000)] | None, AfterValidator(_off_at_zero)]
LossPct = Annotated[Annotated[float, Field(ge=0, le=100)] | None, AfterValidator(_off_at_zero)]


class IcmpTarget(Strict):
    kind: Literal["icmp"]
    host: IpAddress


class TcpTarget(Strict):
    """A TCP connect; for a link a refused connection proves the path works too (for a
    service backend it is a failure: `refused_ok = false`)."""

    kind: Literal["tcp"]
    host: IpAddress
    port: Annotated[int, Field(ge=1, le=65535)]
    refused_ok: bool = True


def hex_bytes(value: str | None) -> str | None:
    """A hex string of bytes, checked (kept as text: config values stay TOML-shaped)."""
    if value is not None:
        bytes.fromhex(value)  # ValueError names the bad character
    return value


class UdpTarget(Strict):
    """A datagram to host:port. An ICMP port unreachable fails; with `require_reply` (or
    `expect`) so does silence, else silence counts as alive (many UDP services never
    answer a datagram they do not understand)."""

    kind: Literal["udp"]
    host: IpAddress
    port: Annotated[int, Field(ge=1, le=65535)]
    payload: str = ""  # sent as UTF-8 text
    payload_hex: str | None = None  # or as these bytes ("0a0b...")
    expect: str | None = None  # the reply must contain this text
    require_reply: bool = False

    _payload_hex = field_validator("payload_hex")(hex_bytes)

    @model_validator(mode="after")
    def _one_payload(self) -> Self:
        if self.payload and self.payload_hex:
            raise ValueError("payload and payload_hex: give one of them")
        return self

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.payload_hex) if self.payload_hex else self.payload.encode()


class HttpTarget(Strict):
    kind: Literal["http"]
    url: str
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    body_contains: str | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        expected = (
            f"expected an http:// or https:// URL with a host (and port 1-65535), got {value!r}"
        )
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError(expected) from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or port == 0
            or any(c.isspace() or not c.isprintable() for c in value)
        ):
            raise ValueError(expected)
        if "%" in parts.hostname:
            raise ValueError(f"IPv6 scope ids ('%...') are not taken here, got {value!r}")
        return value


class DnsTarget(Strict):
    """A DNS query to `server`; with `expect`, the answer must contain that value.

    Both are read with dnspython, as the probe will use them: a name it cannot encode would
    fail every probe, and `expect` is kept in the form answers are compared in (`2001:db8::1`
    for `2001:DB8::1`, `"text"` for `text`, names absolute).
    """

    kind: Literal["dns"]
    server: IpAddress
    query: str
    rdtype: Literal["A", "AAAA", "TXT", "NS", "MX", "SOA"] = "A"
    expect: str | None = None

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        # dnspython is imported only for configs with DNS targets (daemon memory).
        import dns.exception
        import dns.name

        try:
            dns.name.from_text(value)
        except (dns.exception.DNSException, UnicodeError) as exc:
            raise ValueError(f"expected a DNS name, got {value!r}: {exc}") from None
        if not value:
            raise ValueError("expected a DNS name ('.' for the root), got ''")
        return value

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: str | None, info: ValidationInfo) -> str | None:
        rdtype = info.data.get("rdtype")
        if value is None or rdtype is None:
            return value
        import dns.exception
        import dns.name
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype

        what = {"A": "an IPv4 address", "AAAA": "an IPv6 address (no scope id)"}
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), value,
                origin=dns.name.root, relativize=False,
            )  # fmt: skip
        except (dns.exception.DNSException, UnicodeError, ValueError):
            expected = what.get(rdtype, f"a {rdtype} record as in a zone file")
            raise ValueError(f"expected {expected} for rdtype {rdtype!r}, got {value!r}") from None
        return rdata.to_text()


class SmtpTarget(Strict):
    """An SMTP server: it must greet with a 220 banner (then gets QUIT)."""

    kind: Literal["smtp"]
    host: IpAddress
    port: Annotated[int, Field(ge=1, le=65535)] = 25


def exec_argument(value: str) -> str:
    """exec() takes no NUL in an argument (Python raises ValueError, not OSError)."""
    if "\0" in value:
        raise ValueError(f"a command argument cannot hold a NUL character, got {value!r}")
    return value


Argument = Annotated[str, AfterValidator(exec_argument)]


class CommandTarget(Strict):
    """An external command: exit status 0 means healthy. Runs with the check's timeout."""

    kind: Literal["command"]
    argv: Annotated[list[Argument], Field(min_length=1)]


Target = Annotated[
    IcmpTarget | TcpTarget | UdpTarget | HttpTarget | DnsTarget | SmtpTarget | CommandTarget,
    Field(discriminator="kind"),
]


class HealthCheck(Strict):
    """How one link is probed and judged.

    The defaults protect a user who configured only targets, as dpinger does for pfSense and
    OPNsense (probe every 0.5 s, alarm above 20 % loss or 500 ms latency): a lossy or slow
    link stops taking new connections while a better one is up, within a few seconds, and
    keeps the connections it carries. README's "Defaults" table says why each value.
    """

    targets: Annotated[list[Target], Field(min_length=1)]
    interval: Seconds = 0.5
    #: Probe interval while a link is failing or recovering (defaults to `interval`).
    fast_interval: Seconds | None = None
    timeout: Seconds = 1.0
    fall: Annotated[int, Field(ge=1, le=100)] = 3  # failed rounds in a row: down
    rise: Annotated[int, Field(ge=1, le=100)] = 3  # good rounds in a row: up again
    reliability: Annotated[int, Field(ge=1)] = 1  # targets that must answer in a round
    window: Annotated[int, Field(ge=1, le=1000)] = 10  # rounds for latency and loss
    degraded_latency_ms: LatencyMs = 500
    degraded_loss_pct: LossPct = 20
    down_latency_ms: LatencyMs = None
    down_loss_pct: LossPct = None
    #: What a degraded link does: keep its share, serve only when no other member of a
    #: policy is up (last_resort), or take `degraded_weight` instead of its weight.
    degraded_action: Literal["keep", "last_resort", "weight"] = "last_resort"
    degraded_weight: Annotated[int, Field(gt=0, le=1000)] | None = None
    #: At daemon start: "up" keeps traffic flowing until probes say otherwise.
    initial_state: Literal["up", "down"] = "up"
    #: Probe at `fast_interval` while the interface sends but receives nothing (a link that
    #: carries traffic and gets no answers is suspect before any probe has failed).
    traffic_signal: bool = False
    #: Delete the conntrack entries of a link that goes down, so applications reconnect
    #: through live links at once instead of waiting for their own timeouts.
    flush_conntrack: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.reliability > len(self.targets):
            raise ValueError(
                f"reliability {self.reliability} exceeds the {len(self.targets)} target(s)"
            )
        if self.degraded_action == "weight" and self.degraded_weight is None:
            raise ValueError("degraded_action 'weight' needs degraded_weight")
        return self

    @property
    def probe_interval_fast(self) -> float:
        return self.fast_interval or self.interval
