"""ICMP: the raw socket's kernel filter passes only echo replies, and one wakeup reads a
bounded number of packets (a flood on the device cannot hold the event loop)."""

import os
import socket
import struct

import pytest

from multiwan.probing.icmp import ICMP_FILTER, READ_BUDGET, SOL_RAW, Pinger, echo_reply_filter


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")
def test_the_kernel_passes_only_echo_replies() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        echo_reply_filter(sock, socket.AF_INET)
        (blocked,) = struct.unpack("I", sock.getsockopt(SOL_RAW, ICMP_FILTER, 4))
    assert blocked == 0xFFFFFFFE  # every type but 0, echo reply
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        echo_reply_filter(sock, socket.AF_INET6)
        words = struct.unpack("8I", sock.getsockopt(socket.IPPROTO_ICMPV6, 1, 32))
    assert words[129 >> 5] == 0xFFFFFFFF & ~(1 << (129 & 31))  # type 129 passes
    assert all(w == 0xFFFFFFFF for i, w in enumerate(words) if i != 129 >> 5)


class Flood:
    """A socket that always has another (foreign) packet to read."""

    def __init__(self) -> None:
        self.reads = 0

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        self.reads += 1
        return b"\x45" + b"\x00" * 19 + b"\x00\x00\x00\x00\x12\x34\x00\x01", ("192.0.2.9", 0)


def test_one_wakeup_reads_a_bounded_number_of_packets() -> None:
    pinger = Pinger.__new__(Pinger)
    flood = Flood()
    pinger.sock, pinger.family, pinger.ident, pinger.pending = flood, socket.AF_INET, 1, {}  # type: ignore[assignment]
    pinger._readable()
    assert flood.reads == READ_BUDGET
