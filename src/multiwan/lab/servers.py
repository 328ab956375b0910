"""Servers for the internet host of the lab: they answer with the source address they see,
which tells a test which ISP (each NATs to its own address) carried a connection.

Run inside a namespace: `python -m multiwan.lab.servers --tcp 80,443 --udp 53 --hold 7000`.
"""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

import dns.message
import dns.rrset
from aiohttp import web

#: What the lab's DNS server answers for any name.
DNS_ANSWER = "192.0.2.53"


async def _whoami(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")[0]
    writer.write(f"{peer}\n".encode())
    try:
        await writer.drain()
    finally:
        writer.close()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo every line prefixed with the peer address, for as long as the client likes."""
    peer = writer.get_extra_info("peername")[0]
    try:
        while line := await reader.readline():
            writer.write(f"{peer} {line.decode().strip()}\n".encode())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _smtp(name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A tiny SMTP-like backend: greets with `220 NAME`, answers NOOP, says bye to QUIT."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            writer.write(f"220 {name} multiwan-lab ESMTP (you are {peer})\r\n".encode())
            await writer.drain()
            while line := await reader.readline():
                if line.strip().upper() == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                writer.write(f"250 {name} ok\r\n".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return session


class _UdpWhoami(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(f"{addr[0]}\n".encode(), addr)


class _UdpNamed(asyncio.DatagramProtocol):
    """A UDP backend: answers every datagram with its name and the peer's address."""

    def __init__(self, name: str) -> None:
        self.name = name

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(f"{self.name} {addr[0]}\n".encode(), addr)


class _Dns(asyncio.DatagramProtocol):
    """Answers every A query with DNS_ANSWER (dnspython builds the reply)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        name = query.question[0].name
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", DNS_ANSWER))
        self.transport.sendto(reply.to_wire(), addr)


async def _http(request: web.Request) -> web.Response:
    if request.path == "/fail":
        return web.Response(status=503, text="failing on purpose")
    return web.Response(text=f"multiwan lab ok, you are {request.remote}")


async def serve(
    addresses: list[str],
    tcp: list[int],
    udp: list[int],
    hold: list[int],
    dns_port: int | None,
    http_port: int | None,
    smtp: tuple[int, str] | None = None,
    named_udp: tuple[int, str] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for port in tcp:
        servers.append(
            await asyncio.start_server(
                _whoami, host=["0.0.0.0", "::"], port=port, backlog=1024, reuse_address=True
            )
        )
    for port in hold:
        servers.append(
            await asyncio.start_server(_hold, host=["0.0.0.0", "::"], port=port, reuse_address=True)
        )
    for port in udp:
        # Bound to each service address: a wildcard socket would answer from whichever
        # address routing picks, which the ISPs' NAT would not recognise as the reply.
        for host in addresses:
            await loop.create_datagram_endpoint(_UdpWhoami, local_addr=(host, port))
    if smtp:
        servers.append(
            await asyncio.start_server(
                _smtp(smtp[1]), host=addresses, port=smtp[0], backlog=1024, reuse_address=True
            )
        )
    if named_udp:
        port, name = named_udp
        for host in addresses:
            await loop.create_datagram_endpoint(lambda: _UdpNamed(name), local_addr=(host, port))
    if dns_port:
        for host in addresses:
            await loop.create_datagram_endpoint(_Dns, local_addr=(host, dns_port))
    if http_port:
        app = web.Application()
        app.router.add_get("/{tail:.*}", _http)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in addresses:
            await web.TCPSite(runner, host=host, port=http_port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", action="append", required=True, help="UDP service address")
    parser.add_argument("--tcp", type=_ports, default=[])
    parser.add_argument("--udp", type=_ports, default=[])
    parser.add_argument("--hold", type=_ports, default=[])
    parser.add_argument("--dns", type=int, default=None, help="DNS responder port")
    parser.add_argument("--http", type=int, default=None, help="HTTP server port")
    parser.add_argument("--smtp", type=int, default=None, help="SMTP-like backend port")
    parser.add_argument("--named-udp", type=int, default=None, help="UDP backend port")
    parser.add_argument("--name", default="backend", help="name in the SMTP greeting")
    args = parser.parse_args()
    smtp = (args.smtp, args.name) if args.smtp else None
    named_udp = (args.named_udp, args.name) if args.named_udp else None
    asyncio.run(
        serve(args.address, args.tcp, args.udp, args.hold, args.dns, args.http, smtp, named_udp)
    )


if __name__ == "__main__":
    main()
