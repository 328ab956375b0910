"""One probe of any configured target kind, from one link; never raises."""

import asyncio
from collections.abc import Awaitable, Sequence

from multiwan.config.health import (
    CommandTarget,
    DnsTarget,
    HttpTarget,
    IcmpTarget,
    SmtpTarget,
    Target,
    TcpTarget,
    UdpTarget,
)
from multiwan.probing.binding import LinkBinding, family_of
from multiwan.probing.command import run_command
from multiwan.probing.icmp import Pinger
from multiwan.probing.result import ProbeResult, os_error
from multiwan.probing.smtp import smtp_greeting
from multiwan.probing.tcp import tcp_connect
from multiwan.probing.udp import udp_exchange


async def _done(result: ProbeResult) -> ProbeResult:
    return result


def describe(target: Target) -> str:
    """Short name of a target for log lines and status."""
    if isinstance(target, IcmpTarget):
        return target.host
    if isinstance(target, TcpTarget):
        return f"tcp:{target.host}:{target.port}"
    if isinstance(target, UdpTarget):
        return f"udp:{target.host}:{target.port}"
    if isinstance(target, HttpTarget):
        return target.url
    if isinstance(target, SmtpTarget):
        return f"smtp:{target.host}:{target.port}"
    if isinstance(target, CommandTarget):
        return " ".join(target.argv)
    return f"dns:{target.server}:{target.query}"


class LinkProber:
    """Probes for one link (or, with no binding, for service backends); ICMP goes through
    one shared raw socket per family."""

    def __init__(self, binding: LinkBinding | None) -> None:
        self.binding = binding
        self._pingers: dict[int, Pinger] = {}

    def _pinger(self, family: int) -> Pinger:
        if family not in self._pingers:
            self._pingers[family] = Pinger(self.binding, family)
        return self._pingers[family]

    async def probe(self, target: Target, limit: float) -> ProbeResult:
        if isinstance(target, IcmpTarget):
            try:
                pinger = self._pinger(family_of(target.host))
            except OSError as exc:
                return os_error(exc)
            return await pinger.ping(target.host, limit)
        if isinstance(target, TcpTarget):
            return await tcp_connect(
                target.host, target.port, self.binding, limit, target.refused_ok
            )
        if isinstance(target, UdpTarget):
            return await udp_exchange(target, self.binding, limit)
        if isinstance(target, SmtpTarget):
            return await smtp_greeting(target.host, target.port, limit, self.binding)
        if isinstance(target, CommandTarget):
            return await run_command(target.argv, limit, self.binding)
        # aiohttp and dnspython cost ~25 MB of memory: loaded only by links that use them.
        if isinstance(target, HttpTarget):
            from multiwan.probing.http import http_get

            return await http_get(target, self.binding, limit)
        assert isinstance(target, DnsTarget)
        from multiwan.probing.dns import dns_query

        return await dns_query(target, self.binding, limit)

    async def probe_round(self, targets: Sequence[Target], limit: float) -> list[ProbeResult]:
        """Every target at once. ICMP echoes are plain futures on the shared socket (no
        task each); other kinds run as tasks."""
        pending: list[Awaitable[ProbeResult]] = []
        for target in targets:
            if isinstance(target, IcmpTarget):
                try:
                    pending.append(self._pinger(family_of(target.host)).send(target.host, limit))
                    continue
                except OSError as exc:
                    pending.append(_done(os_error(exc)))
                    continue
            pending.append(self.probe(target, limit))
        return list(await asyncio.gather(*pending))

    def close(self) -> None:
        for pinger in self._pingers.values():
            pinger.close()
        self._pingers.clear()
