"""Traffic generators for lab tests, run inside a client namespace; results as JSON.

`tcp`/`udp` open many short flows (each a new conntrack entry) and count the source address
the server saw in each, optionally from sockets bound to a local address (`--bind`); `ping`
sends single echo requests from raw sockets (as `ping -c 1 -I ADDRESS`); `hold` keeps one TCP
connection alive and reports every echo, so a test can prove a long-lived flow kept its link
(and never broke) across changes; `steady` opens a new TCP connection every `--interval`
seconds, to the destinations in turn, and prints each one's start time and outcome (users'
traffic for the passive failure signal).
"""

import argparse
import asyncio
import itertools
import json
import os
import socket
import sys
import time
from collections import Counter

from multiwan.probing.icmp import PROTO, echo_request, parse_reply


async def _tcp_once(dst: str, port: int, timeout: float, bind: str | None) -> str:
    local = (bind, 0) if bind else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(dst, port, local_addr=local), timeout
    )
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    return line.decode().strip()


async def _udp_once(dst: str, port: int, timeout: float, bind: str | None) -> str:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        if bind:
            sock.bind((bind, 0))
        await loop.sock_connect(sock, (dst, port))
        await loop.sock_sendall(sock, b"who\n")
        data = await asyncio.wait_for(loop.sock_recv(sock, 256), timeout)
    return data.decode().strip()


async def _ping_once(dst: str, port: int, timeout: float, bind: str | None) -> str:
    """One echo request from its own raw socket (own identifier: own conntrack entry)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    ident = int.from_bytes(os.urandom(2), "big")
    with socket.socket(family, socket.SOCK_RAW, PROTO[family]) as sock:
        sock.setblocking(False)
        if bind:
            sock.bind((bind, 0))
        await loop.sock_sendto(sock, echo_request(family, ident, 1), (dst, 0))
        async with asyncio.timeout(timeout):
            while True:
                packet, source = await loop.sock_recvfrom(sock, 4096)
                if source[0] == dst and parse_reply(family, packet) == (ident, 1):
                    return "replied"


ONCE = {"tcp": _tcp_once, "udp": _udp_once, "ping": _ping_once}


async def count_sources(
    kind: str, dst: str, port: int, count: int, concurrency: int, timeout: float,
    bind: str | None = None,
) -> dict[str, object]:  # fmt: skip
    """Open `count` flows, at most `concurrency` at once; count answers by source seen."""
    once = ONCE[kind]
    sources: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    targets = dst.split(",")  # several: taken in turn
    binds = bind.split(",") if bind else [None]  # several: taken in turn

    async def one(index: int) -> None:
        async with gate:
            local = binds[index % len(binds)]
            try:
                sources[await once(targets[index % len(targets)], port, timeout, local)] += 1
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return {
        "sources": dict(sources),
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "seconds": time.monotonic() - started,
    }


def hold(dst: str, port: int, interval: float, timeout: float) -> None:
    """Echo a line every `interval` forever; print `<time> <source>` per reply, or BROKEN."""
    try:
        sock = socket.create_connection((dst, port), timeout=timeout)
        stream = sock.makefile("rw")
        seq = 0
        while True:
            stream.write(f"{seq}\n")
            stream.flush()
            reply = stream.readline()
            if not reply:
                raise ConnectionError("closed by peer")
            print(f"{time.monotonic():.3f} {reply.split()[0]}", flush=True)
            seq += 1
            time.sleep(interval)
    except OSError as exc:
        print(f"BROKEN {type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)


async def steady(dsts: list[str], port: int, interval: float, timeout: float) -> None:
    """Forever: a new connection every `interval`; print `<start> <dst> <source|FAIL:why>`."""

    async def one(dst: str) -> None:
        started = time.monotonic()
        try:
            outcome = await _tcp_once(dst, port, timeout, None)
        except (OSError, TimeoutError) as exc:
            outcome = f"FAIL:{type(exc).__name__}"
        print(f"{started:.3f} {dst} {outcome}", flush=True)

    async with asyncio.TaskGroup() as group:
        for index in itertools.count():
            group.create_task(one(dsts[index % len(dsts)]), name=f"steady-{index}")
            await asyncio.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["tcp", "udp", "ping", "hold", "steady"])
    parser.add_argument("--dst", required=True, help="address, or several comma-separated")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument(
        "--bind",
        default=None,
        help="local address of the flows' sockets, or several comma-separated",
    )
    args = parser.parse_args()
    if args.kind == "hold":
        hold(args.dst, args.port, args.interval, args.timeout)
        return
    if args.kind == "steady":
        asyncio.run(steady(args.dst.split(","), args.port, args.interval, args.timeout))
        return
    result = asyncio.run(
        count_sources(
            args.kind, args.dst, args.port, args.count, args.concurrency, args.timeout, args.bind
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
