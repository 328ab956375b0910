"""The one error type of the kernel edge: what multiwan was doing and what the kernel said."""


class KernelError(Exception):
    """A kernel operation failed; the message names the operation and the kernel's reason."""
