"""Sockets that leave by one link: bound to its device, marked with its mark, and from its
address when known.

The mark selects the link's routing table (and multiwan's output chain leaves marked
packets alone), the device binding is what tells apart modems that share subnet, gateway
and even address (FIELD-NOTES), and the source address keeps replies on the same link.
"""

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkBinding:
    interface: str
    mark: int
    source4: str | None = None
    source6: str | None = None
    #: The interface's index when the binding was made: a new one means new sockets.
    ifindex: int | None = None
    link: str = ""  # the link's name (for command probes)

    def source(self, family: int) -> str | None:
        return self.source4 if family == socket.AF_INET else self.source6


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def bound_socket(
    binding: LinkBinding | None, family: int, kind: int, proto: int = 0
) -> socket.socket:
    """A non-blocking socket pinned to `binding`'s link (plain if binding is None)."""
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, proto)
    try:
        if binding is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, binding.mark)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, binding.interface.encode())
            source = binding.source(family)
            if source is not None:
                sock.bind((source, 0))
    except OSError:
        sock.close()
        raise
    return sock
