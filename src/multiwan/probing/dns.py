"""A DNS query over UDP from one link: dnspython builds and validates the messages, the
datagram goes through a link-bound socket (dnspython's own sockets cannot carry a mark)."""

import asyncio
import socket
import time

import dns.exception
import dns.message
import dns.rcode

from multiwan.config.health import DnsTarget
from multiwan.probing.binding import LinkBinding, bound_socket, family_of
from multiwan.probing.result import ProbeResult, failure, os_error


async def dns_query(target: DnsTarget, binding: LinkBinding | None, limit: float) -> ProbeResult:
    loop = asyncio.get_running_loop()
    query = dns.message.make_query(target.query, target.rdtype)
    try:
        sock = bound_socket(binding, family_of(target.server), socket.SOCK_DGRAM)
    except OSError as exc:
        return os_error(exc)
    with sock:
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                await loop.sock_connect(sock, (target.server, 53))
                await loop.sock_sendall(sock, query.to_wire())
                while True:
                    wire = await loop.sock_recv(sock, 65535)
                    try:
                        response = dns.message.from_wire(wire)
                    except dns.exception.DNSException:
                        continue
                    if query.is_response(response):
                        break
        except TimeoutError:
            return failure(f"timeout after {limit:g}s")
        except OSError as exc:
            return os_error(exc)
    rtt = time.monotonic() - started
    if response.rcode() != dns.rcode.NOERROR:
        return failure(f"DNS {dns.rcode.to_text(response.rcode())}")
    if target.expect is not None:
        answers = {item.to_text() for rrset in response.answer for item in rrset}
        if target.expect not in answers:
            return failure(f"answer {sorted(answers)} lacks {target.expect!r}")
    return ProbeResult(True, rtt)
