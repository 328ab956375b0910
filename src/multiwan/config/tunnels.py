"""Tunnel links: a link whose interface is a tunnel (WireGuard, OpenVPN) riding on a base link.

Everything about a tunnel that could stop it later is checked here, when the config is read:
the base link exists and is a plain uplink, and the tunnel's own config file is readable
and holds nothing that would fight multiwan (its interface, mark, binding, detaching). A
WireGuard file is in wg-quick's format; `parse_wireguard` splits it into what `wg setconf`
takes and what multiwan sets on the interface itself (addresses, MTU).
"""

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: wg-quick keys that run commands or touch routing; multiwan does neither for a tunnel.
WG_QUICK_ONLY = {"dns", "table", "preup", "postup", "predown", "postdown", "saveconfig"}
WG_INTERFACE = {"privatekey", "listenport", "address", "mtu"}
WG_PEER = {"publickey", "presharedkey", "endpoint", "allowedips", "persistentkeepalive"}
#: OpenVPN options multiwan sets on the command line (or that would escape supervision).
OPENVPN_OWN = {
    "dev": "multiwan names the device after the link's interface",
    "dev-type": "multiwan uses a tun device",
    "dev-node": "multiwan uses a tun device named after the link's interface",
    "mark": "multiwan marks the tunnel's packets for its base link",
    "bind-dev": "multiwan binds the tunnel to its base link's device",
    "daemon": "the process must stay in the foreground so multiwan supervises it",
    "inetd": "the process must stay in the foreground so multiwan supervises it",
}


@dataclass(frozen=True)
class WireguardConfig:
    """A wg-quick file split: `setconf` for `wg setconf`, the rest for the interface."""

    setconf: str
    addresses: tuple[str, ...]
    mtu: int | None
    private_key: str = ""
    endpoints: tuple[str, ...] = ()  # the peers' HOST:PORT


def parse_wireguard(text: str) -> WireguardConfig:
    """Parse a wg-quick style file; ValueError naming the line for anything multiwan cannot
    apply exactly (so a file that passes `check` never fails when the tunnel starts)."""
    sections: list[tuple[str, set[str]]] = []  # (section, its keys) in file order
    kept: list[str] = []
    addresses: list[str] = []
    mtu: int | None = None
    found: dict[str, list[str]] = {"privatekey": [], "endpoint": []}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.lower()
            if section not in ("[interface]", "[peer]"):
                raise ValueError(f"line {number}: unknown section {line!r}")
            sections.append((section, set()))
            kept.append(line)
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        lowered = key.lower()
        if not sep or not value:
            raise ValueError(f"line {number}: expected 'Key = value', got {line!r}")
        if not sections:
            raise ValueError(f"line {number}: {key} outside [Interface] or [Peer]")
        section, keys = sections[-1]
        if lowered in WG_QUICK_ONLY:
            raise ValueError(f"line {number}: {key} is for wg-quick, which multiwan does not run")
        if lowered == "fwmark":
            raise ValueError(f"line {number}: FwMark: multiwan sets the base link's mark")
        if lowered not in (WG_INTERFACE if section == "[interface]" else WG_PEER):
            raise ValueError(f"line {number}: unknown key {key!r} in {section}")
        keys.add(lowered)
        found.get(lowered, []).append(value)
        if lowered == "address":
            addresses += [a.strip() for a in value.split(",") if a.strip()]
        elif lowered == "mtu":
            if not value.isdigit() or not 576 <= int(value) <= 65535:
                raise ValueError(f"line {number}: MTU: expected 576-65535, got {value!r}")
            mtu = int(value)
        else:
            kept.append(f"{key} = {value}")
    _check_sections(sections)
    for address in addresses:
        try:
            ipaddress.ip_interface(address)
        except ValueError:
            raise ValueError(f"Address: expected an address/prefix, got {address!r}") from None
    return WireguardConfig("\n".join(kept) + "\n", tuple(addresses), mtu,
                           found["privatekey"][0], tuple(found["endpoint"]))  # fmt: skip


def _check_sections(sections: list[tuple[str, set[str]]]) -> None:
    interfaces = [keys for section, keys in sections if section == "[interface]"]
    peers = [keys for section, keys in sections if section == "[peer]"]
    if len(interfaces) != 1 or "privatekey" not in interfaces[0]:
        raise ValueError("expected one [Interface] section with a PrivateKey")
    if "address" not in interfaces[0]:
        raise ValueError("expected an Address in [Interface] (the tunnel's own address)")
    if not peers:
        raise ValueError("expected at least one [Peer] (the server the tunnel reaches)")
    for index, keys in enumerate(peers, start=1):
        if "publickey" not in keys:
            raise ValueError(f"[Peer] {index} has no PublicKey")
    if not any("endpoint" in keys for keys in peers):
        raise ValueError("expected an Endpoint in a [Peer]: the tunnel rides on its base link")


#: Client options the server's side must repeat as they are (both ends must agree, or the
#: server must keep the client's keepalive going).
OPENVPN_SHARED = {
    "cipher", "auth", "data-ciphers", "data-ciphers-fallback", "ping", "ping-restart",
    "keepalive", "comp-lzo", "compress", "tun-mtu", "fragment", "mssfix",
}  # fmt: skip
OPENVPN_TLS = {"client", "tls-client", "ca", "cert", "key", "pkcs12", "tls-auth", "tls-crypt"}


@dataclass(frozen=True)
class OpenvpnClient:
    """What the server's side of an OpenVPN client config can be derived from."""

    port: int  # the server's port
    proto: str  # as the client says it (udp, tcp-client, ...)
    secret: tuple[str, str | None] | None  # static key mode: the key file and its direction
    ifconfig: tuple[str, str] | None  # the client's own tunnel address, the server's
    shared: tuple[tuple[str, ...], ...]  # OPENVPN_SHARED options, as written
    tls: bool  # certificates (or pull): the server's side cannot be derived

    @property
    def static(self) -> bool:
        """A static-key point-to-point tunnel: its server follows from this file alone."""
        return self.secret is not None and self.ifconfig is not None and not self.tls


def parse_openvpn_client(text: str) -> OpenvpnClient:
    """The options of an OpenVPN client config that the server's side mirrors. An inline
    `<secret>` block counts as TLS-like: the server's copy is the user's to place."""
    port, proto = 1194, "udp"
    secret: tuple[str, str | None] | None = None
    ifconfig: tuple[str, str] | None = None
    shared: list[tuple[str, ...]] = []
    tls, inline = False, False
    for raw in text.splitlines():
        line = raw.strip()
        if inline:
            inline = not line.startswith("</")
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("<"):
            inline, tls = True, True
            continue
        option, *args = line.lstrip("-").split()
        if option == "remote" and len(args) >= 2 and args[1].isdigit():
            port = int(args[1])
            proto = args[2] if len(args) >= 3 else proto
        elif option in ("port", "rport") and args and args[0].isdigit():
            port = int(args[0])
        elif option == "proto" and args:
            proto = args[0]
        elif option == "secret" and args:
            secret = (args[0], args[1] if len(args) > 1 else None)
        elif option == "ifconfig" and len(args) == 2:
            ifconfig = (args[0], args[1])
        elif option in OPENVPN_SHARED:
            shared.append((option, *args))
        tls = tls or option in OPENVPN_TLS
    return OpenvpnClient(port, proto, secret, ifconfig, tuple(shared), tls)


def _openvpn_problem(text: str) -> str | None:
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.strip().lstrip("-").split()
        if not words or raw.strip()[0] in "#;":
            continue
        if words[0] in OPENVPN_OWN:
            return f"line {number}: {words[0]!r}: {OPENVPN_OWN[words[0]]}; leave it out"
    return None


def file_digest(path: str) -> str:
    """A digest of the file's content ("" when unreadable: `tunnel_file_problem` says why)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except (OSError, ValueError):
        return ""


def tunnel_file_problem(kind: str, path: str) -> str | None:
    """What is wrong with the tunnel config file at `path` for `kind`, or None."""
    if not path.startswith("/"):
        return f"expected an absolute path, got {path!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return f"cannot read {path!r}: {reason}"
    if kind == "openvpn":
        problem = _openvpn_problem(text)
        return None if problem is None else f"{path}: {problem}"
    try:
        parse_wireguard(text)
    except ValueError as exc:
        return f"{path}: {exc}"
    return None


def tunnel_problems(links: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for tunnel links on raw config data: the base must be another link
    that is no tunnel, and the tunnel's file must be usable."""
    problems: list[tuple[str, str]] = []
    for name, raw in links.items():
        link = raw if isinstance(raw, dict) else {}
        kind, over, path = link.get("tunnel"), link.get("over"), link.get("tunnel_config")
        where = f"links.{name}"
        if kind is None:
            for key in ("over", "tunnel_config"):
                if link.get(key) is not None:
                    problems.append((f"{where}.{key}", "only for a tunnel link (set 'tunnel')"))
            continue
        if kind not in ("wireguard", "openvpn"):
            continue  # the schema reports it
        for key in ("over", "tunnel_config"):
            if link.get(key) is None:
                problems.append((f"{where}.{key}", f"required with tunnel = {kind!r}"))
        if isinstance(over, str):
            base = links.get(over)
            if over == name:
                problems.append((f"{where}.over", "a tunnel cannot ride on itself"))
            elif base is None:
                known = ", ".join(n for n in links if n != name) or "none"
                problems.append((f"{where}.over", f"unknown link {over!r} (links: {known})"))
            elif isinstance(base, dict) and base.get("tunnel") is not None:
                problems.append((f"{where}.over", f"{over!r} is a tunnel itself; a tunnel "
                                 "rides on a plain uplink"))  # fmt: skip
        if isinstance(path, str) and (problem := tunnel_file_problem(kind, path)):
            problems.append((f"{where}.tunnel_config", problem))
    return problems
