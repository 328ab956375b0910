"""Health-check settings: which targets prove a link works, how often, and the thresholds
that move it between up, degraded and down."""

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from multiwan.config.addresses import IpAddress
from multiwan.config.base import Expected, Strict

#: Probe intervals and timeouts. The lower bound is a floor for sane probing: rounds faster
#: than 50 ms flood the links and the daemon's loop with probes (all links are probed at
#: once), and a shorter timeout fails healthy paths on ordinary jitter.
Seconds = Annotated[
    float,
    Field(ge=0.05, le=3600),
    Expected(
        "seconds, 0.05-3600 (faster probing floods the links, shorter timeouts fail on "
        "ordinary jitter)"
    ),
]


def _off_at_zero(value: float | None) -> float | None:
    return None if value == 0 else value


#: A quality threshold; 0 turns it off (TOML has no null).
LatencyMs = Annotated[Annotated[float, Field(ge=0, le=60000)] | None, AfterValidator(_off_at_zero)]
LossPct = Annotated[Annotated[float, Field(ge=0, le=100)] | None, AfterValidator(_off_at_zero)]


class IcmpTarget(Strict):
    kind: Literal["icmp"] = Field(description="An ICMP echo (ping).")
    host: IpAddress = Field(description="The address pinged.")


class TcpTarget(Strict):
    """A TCP connect; for a link a refused connection proves the path works too (for a
    service backend it is a failure: `refused_ok = false`)."""

    kind: Literal["tcp"] = Field(description="A TCP connect.")
    host: IpAddress = Field(description="The address connected to.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(description="The port connected to.")
    refused_ok: bool = Field(True, description="A refused connection passes (the path works).")


def hex_bytes(value: str | None) -> str | None:
    """A hex string of bytes, checked (kept as text: config values stay TOML-shaped)."""
    if value is not None:
        bytes.fromhex(value)  # ValueError names the bad character
    return value


class UdpTarget(Strict):
    """A datagram to host:port. An ICMP port unreachable fails; with `require_reply` (or
    `expect`) so does silence, else silence counts as alive (many UDP services never
    answer a datagram they do not understand)."""

    kind: Literal["udp"] = Field(description="A datagram.")
    host: IpAddress = Field(description="The address sent to.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(description="The port sent to.")
    payload: str = Field("", description="The datagram, as UTF-8 text.")
    payload_hex: str | None = Field(None, description="The datagram, as hex bytes ('0a0b...').")
    expect: str | None = Field(None, description="Text the reply must contain.")
    require_reply: bool = Field(False, description="Silence fails too.")

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
    kind: Literal["http"] = Field(description="An HTTP(S) request.")
    url: str = Field(description="An http:// or https:// URL.")
    expect_status: Annotated[int, Field(ge=100, le=599)] = Field(
        200, description="The status the answer must have."
    )
    body_contains: str | None = Field(None, description="Text the body must contain.")
    verify_tls: bool = Field(True, description="Verify the server's certificate (https).")

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

    kind: Literal["dns"] = Field(description="A DNS query.")
    server: IpAddress = Field(description="The DNS server asked.")
    query: str = Field(description="The name asked for.")
    rdtype: Literal["A", "AAAA", "TXT", "NS", "MX", "SOA"] = Field(
        "A", description="The record type asked for."
    )
    expect: str | None = Field(None, description="A value the answer must contain.")

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

    kind: Literal["smtp"] = Field(description="An SMTP greeting (220).")
    host: IpAddress = Field(description="The SMTP server.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(25, description="Its port.")


def exec_argument(value: str) -> str:
    """exec() takes no NUL in an argument (Python raises ValueError, not OSError)."""
    if "\0" in value:
        raise ValueError(f"a command argument cannot hold a NUL character, got {value!r}")
    return value


Argument = Annotated[str, AfterValidator(exec_argument)]


class CommandTarget(Strict):
    """An external command: exit status 0 means healthy. Runs with the check's timeout."""

    kind: Literal["command"] = Field(description="An external command: exit status 0 passes.")
    argv: Annotated[list[Argument], Field(min_length=1)] = Field(
        description="Program and arguments, run without a shell."
    )


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

    targets: Annotated[list[Target], Field(min_length=1)] = Field(
        description="What a round probes (icmp, tcp, udp, http, dns, smtp, command)."
    )
    interval: Seconds = Field(0.5, description="Seconds between probe rounds.")
    fast_interval: Seconds | None = Field(
        None, description="Seconds between rounds while failing or recovering (default: interval)."
    )
    timeout: Seconds = Field(1.0, description="Seconds a probe may take.")
    fall: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Failed rounds in a row: down."
    )
    rise: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Good rounds in a row: up again."
    )
    reliability: Annotated[int, Field(ge=1)] = Field(
        1, description="Targets that must answer for a round to count as good."
    )
    window: Annotated[int, Field(ge=1, le=1000)] = Field(
        10, description="Rounds of latency and loss history."
    )
    degraded_latency_ms: LatencyMs = Field(
        500, description="Mean latency above which the link is degraded; 0 turns it off."
    )
    degraded_loss_pct: LossPct = Field(
        20, description="Loss above which the link is degraded; 0 turns it off."
    )
    down_latency_ms: LatencyMs = Field(
        None, description="Mean latency above which the link is down; 0 or omitted: off."
    )
    down_loss_pct: LossPct = Field(
        None, description="Loss above which the link is down; 0 or omitted: off."
    )
    degraded_action: Literal["keep", "last_resort", "weight"] = Field(
        "last_resort",
        description="What a degraded link does: keep its share, serve only when no other "
        "member of a policy is up (last_resort), or take degraded_weight instead.",
    )
    degraded_weight: Annotated[int, Field(gt=0, le=1000)] | None = Field(
        None, description="Weight of a degraded link (degraded_action 'weight')."
    )
    initial_state: Literal["up", "down"] = Field(
        "up", description="State at daemon start: 'up' keeps traffic flowing until probes say."
    )
    traffic_signal: bool = Field(
        False,
        description="Probe at once, then at fast_interval, when the interface sent packets "
        "but received none in a second (its rates are sampled every second).",
    )
    traffic_floor_kbit: Annotated[float, Field(ge=0, le=10_000_000)] = Field(
        0,
        description="A link that sends at least this many kbit/s but receives less for "
        "traffic_floor_seconds is suspect: probed at once and at fast_interval; 0 turns it off.",
    )
    traffic_floor_seconds: Annotated[float, Field(ge=1, le=3600)] = Field(
        3,
        description="Seconds the receive rate must stay below traffic_floor_kbit (rates are "
        "sampled every second).",
    )
    passive: bool = Field(
        False,
        description="Watch the users' new TCP connections through the link (conntrack "
        "events): when connections to passive_destinations distinct destinations went "
        "unanswered since the link last answered one, probe it at once at fast_interval.",
    )
    passive_timeout: Seconds = Field(
        1.0,
        description="Seconds a new TCP connection may wait for its answer (SYN-ACK or "
        "reset) before it counts as unanswered (passive).",
    )
    passive_destinations: Annotated[int, Field(ge=2, le=100)] = Field(
        3,
        description="Distinct destinations with unanswered connections that raise the "
        "passive alarm (at least 2: one dead far server never trips a link).",
    )
    passive_down: bool = Field(
        False,
        description="Take the link down on the passive alarm alone (needs passive); probes "
        "must then pass rise rounds before it returns.",
    )
    flush_conntrack: bool = Field(
        True,
        description="Delete the connections of a link that goes down, so applications "
        "reconnect through live links at once.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.reliability > len(self.targets):
            raise ValueError(
                f"reliability {self.reliability} exceeds the {len(self.targets)} target(s)"
            )
        if self.degraded_action == "weight" and self.degraded_weight is None:
            raise ValueError("degraded_action 'weight' needs degraded_weight")
        if self.passive_down and not self.passive:
            raise ValueError("passive_down needs passive = true (the connections it judges)")
        return self

    @property
    def probe_interval_fast(self) -> float:
        return self.fast_interval or self.interval
