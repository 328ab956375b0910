"""The one error type of the kernel edge: what multiwan was doing and what the kernel said."""

from pyroute2.netlink.exceptions import NetlinkError

#: What pyroute2 and the system raise raw (an interface deleted between two netlink calls:
#: NetlinkError 19, ENODEV); the daemon's kernel worker turns these into KernelError.
RAW_KERNEL_ERRORS = (NetlinkError, OSError)


class KernelError(Exception):
    """A kernel operation failed; the message names the operation and the kernel's reason."""
