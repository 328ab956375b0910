"""Servers for the internet host of the lab: they answer with the source address they see,
which tells a test which ISP (each NATs to its own address) carried a connection.

Run inside a namespace: `python -m multiwan.lab.servers --tcp 80,443 --udp 53 --hold 7000`.
"""

import argparse
import asyncio
from typing import cast


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


class _UdpWhoami(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(f"{addr[0]}\n".encode(), addr)


async def serve(addresses: list[str], tcp: list[int], udp: list[int], hold: list[int]) -> None:
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
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.tcp, args.udp, args.hold))


if __name__ == "__main__":
    main()
