"""Inbound services in nft: DNAT of a virtual IP:port to one backend per connection.

Static: a nat chain per hook jumps to the service's chain for its addresses and ports; one
small chain per backend holds its `dnat`; a filter chain after DNAT rejects (TCP reset, UDP
port unreachable) new connections that no backend took, and counts them. Dynamic: the
service chain's one rule picks among the live backends (random by weight, weighted round
robin with `numgen inc`, or a seeded `jhash` of the client address), so a backend going down
or a drain is one small atomic update; established connections keep their conntrack DNAT.
"""

import ipaddress
import zlib
from collections.abc import Iterable, Mapping, Set

from multiwan.config.services import Backend, Service
from multiwan.core.nftsyntax import nft_set, nft_string


def service_chain(name: str) -> str:
    return f"svc_{name}"


def backend_chain(name: str, index: int) -> str:
    """`be_<service>_<index>`: the index is what follows the last '_', so two services never
    share a backend chain whatever their names (`svc_a_b0` was service `a_b0` and a backend of
    `a`); the prefixes keep these apart from every other chain (see core/nft.py)."""
    return f"be_{name}_{index}"


def backend_counter(name: str, index: int) -> str:
    """The named counter of new connections sent to a backend (same name as its chain)."""
    return backend_chain(name, index)


def rejected_counter(name: str) -> str:
    return f"svc_{name}_rejected"


def _by_family(addresses: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for address in addresses:
        keyword = "ip" if ipaddress.ip_address(address).version == 4 else "ip6"
        found.setdefault(keyword, []).append(address)
    return found


def _vip_matches(service: Service, hook: str) -> list[str]:
    """One match per family: the service's addresses and ports (and input interfaces). A
    service limited to input interfaces has none in the output hook: local clients arrive
    on no interface."""
    if service.iif and hook == "output":
        return []
    ports = nft_set(str(p) for p in service.ports)
    names = nft_set(f'"{name}"' for name in service.iif)
    iif = f"iifname {names} " if service.iif else ""
    return [
        f"{iif}{keyword} daddr {nft_set(addresses)} {service.protocol} dport {ports}"
        for keyword, addresses in sorted(_by_family(service.listen).items())
    ]


def _dnat(backend: Backend, protocol: str) -> str:
    keyword = "ip" if backend.family == 4 else "ip6"
    if not backend.port:
        return f"dnat {keyword} to {backend.address}"
    where = backend.address if backend.family == 4 else f"[{backend.address}]"
    # nft maps a port only after a transport protocol match in the same rule.
    return f"meta l4proto {protocol} dnat {keyword} to {where}:{backend.port}"


def static_lines(services: dict[str, Service]) -> list[str]:
    """Counters and chains of every service (inside `table inet multiwan { ... }`)."""
    if not services:
        return []
    lines = [f"\tcounter {rejected_counter(name)} {{ }}" for name in services]
    lines += [
        f"\tcounter {backend_counter(name, index)} {{ }}"
        for name, service in services.items()
        for index in range(len(service.backends))
    ]
    # Numeric priorities (-100 is dstnat; the name is refused for the output hook); the
    # guard runs right after DNAT.
    for hook in ("prerouting", "output"):
        lines += [
            f"\tchain nat_{hook} {{",
            f"\t\ttype nat hook {hook} priority -100; policy accept;",
        ]
        for name, service in services.items():
            lines += [f"\t\t{m} jump {service_chain(name)}" for m in _vip_matches(service, hook)]
        lines.append("\t}")
        # After DNAT: whatever still goes to a service address found no live backend.
        lines += [f"\tchain guard_{hook} {{",
                  f"\t\ttype filter hook {hook} priority -90; policy accept;"]  # fmt: skip
        for name, service in services.items():
            verdict = (
                "reject with tcp reset"
                if service.protocol == "tcp"
                else ("reject with icmpx port-unreachable")
            )
            for match in _vip_matches(service, hook):
                lines.append(
                    f"\t\tct state new {match} counter name {nft_string(rejected_counter(name))} "
                    + verdict
                )
        lines.append("\t}")
    for name, service in services.items():
        for index, backend in enumerate(service.backends):
            dnat = _dnat(backend, service.protocol)
            count = f"counter name {nft_string(backend_counter(name, index))}"
            lines.append(f"\tchain {backend_chain(name, index)} {{ {count} {dnat}; }}")
    return lines


def snat_lines(services: dict[str, Service]) -> list[str]:
    """Postrouting rules masquerading connections to backends of `snat` services."""
    lines = []
    for service in services.values():
        if service.snat:
            for keyword, addresses in sorted(
                _by_family(b.address for b in service.backends).items()
            ):
                lines.append(f"\t\tct status dnat {keyword} daddr {nft_set(addresses)} masquerade")
    return lines


def _seed(name: str) -> str:
    """A fixed seed per service: jhash must map a client to the same backend after reloads."""
    return f"{zlib.crc32(name.encode()):#x}"


def choose_backends(service: Service, live: Set[str]) -> list[tuple[int, Backend]]:
    """Live primaries; if none, live backups; if none, nothing."""
    port = service.ports[0]
    for backup in (False, True):
        chosen = [(i, b) for i, b in enumerate(service.backends)
                  if b.backup == backup and b.key(port) in live]  # fmt: skip
        if chosen:
            return chosen
    return []


def service_rule(name: str, service: Service, live: Set[str]) -> str:
    """The one rule of the service chain for the backends live now."""
    chosen = choose_backends(service, live)
    if not chosen:
        return "return"  # no DNAT: the guard chain rejects it
    if len(chosen) == 1:
        return f"goto {backend_chain(name, chosen[0][0])}"
    elements, low = [], 0
    for index, backend in chosen:
        high = low + backend.weight - 1
        key = str(low) if high == low else f"{low}-{high}"
        elements.append(f"{key} : goto {backend_chain(name, index)}")
        low = high + 1
    vmap = f"mod {low} vmap {{ {', '.join(elements)} }}"
    if service.scheduler == "round-robin":
        return f"numgen inc {vmap}"
    if service.scheduler == "source-hash":
        families = sorted(_by_family(service.listen))
        if families == ["ip"]:
            return f"jhash ip saddr {vmap.replace('vmap', f'seed {_seed(name)} vmap', 1)}"
        return f"jhash ip6 saddr {vmap.replace('vmap', f'seed {_seed(name)} vmap', 1)}"
    return f"numgen random {vmap}"


def service_rules(
    services: dict[str, Service], live: Mapping[str, Set[str]] | None
) -> dict[str, str]:
    """Rule per service chain; `live=None` means every backend is live (plain `apply`)."""
    rules = {}
    for name, service in services.items():
        port = service.ports[0]
        alive = (
            live.get(name, set()) if live is not None else {b.key(port) for b in service.backends}
        )
        rules[service_chain(name)] = service_rule(name, service, alive)
    return rules


def live_backends(
    services: Mapping[str, Service], states: Mapping[tuple[str, str], str], drained: Set[str]
) -> dict[str, set[str]]:
    """Per service, the backends that take new connections: up and not drained
    (`service/address:port`)."""
    live: dict[str, set[str]] = {name: set() for name in services}
    for (service, key), state in states.items():
        if state == "up" and f"{service}/{key}" not in drained:
            live.setdefault(service, set()).add(key)
    return live
