"""Read and write sysctls of the current network namespace through /proc/sys.

Keys are paths below /proc/sys ("net/ipv4/conf/wan1/rp_filter"), so interface names that
contain dots need no escaping (the dotted `sysctl` spelling would).
"""

from pathlib import Path

from multiwan.kernel.errors import KernelError

PROC_SYS = Path("/proc/sys")


def read_sysctl(key: str) -> str | None:
    """The value, or None when the key does not exist (e.g. its interface is gone)."""
    try:
        return (PROC_SYS / key).read_text().strip()
    except FileNotFoundError:
        return None


def write_sysctl(key: str, value: str) -> None:
    try:
        (PROC_SYS / key).write_text(value)
    except OSError as exc:
        raise KernelError(f"setting sysctl {key}={value}: {exc.strerror}") from exc
