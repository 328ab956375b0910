"""Run a command whose every socket leaves by one link, as the health probes do: bound to the
link's device and marked with its mark (probing/binding.py), but set by the kernel.

A socket option is not inherited by the sockets a program makes, so mwan3 preloads a library
that sets SO_MARK in every process (LD_PRELOAD: not for static binaries, and marks alone
cannot tell apart modems that share subnet and gateway, FIELD-NOTES). Here the command runs
in a transient cgroup (v2) with a tiny BPF program attached at socket creation that sets the
socket's bound device and mark: iproute2's `ip vrf exec` mechanism. It covers every process
and thread the command starts, whatever they are linked with, and needs no nft or `ip rule`
of its own: the rules for device-bound, marked sockets are the ones probes use. Removing the
cgroup detaches the program.
"""

import ctypes
import logging
import os
import platform
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: bpf(2) syscall numbers by machine.
SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280, "ppc64le": 361}
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_SOCK = 9
BPF_CGROUP_INET_SOCK_CREATE = 2
#: Offsets in `struct bpf_sock` (uapi/linux/bpf.h) that a sock_create program may write.
BOUND_DEV_IF, MARK = 0, 16


class CgroupBindError(Exception):
    """The command could not be confined to the link (the message says why)."""


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


def program(ifindex: int, mark: int) -> bytes:
    """r2 = ifindex; sk->bound_dev_if = r2; r2 = mark; sk->mark = r2; return 1 (allow)."""
    mov_imm, store_word, exit_ = 0xB7, 0x63, 0x95
    return b"".join([
        _insn(mov_imm, dst=2, imm=ifindex),
        _insn(store_word, dst=1, src=2, off=BOUND_DEV_IF),
        _insn(mov_imm, dst=2, imm=ctypes.c_int32(mark).value),
        _insn(store_word, dst=1, src=2, off=MARK),
        _insn(mov_imm, dst=0, imm=1),
        _insn(exit_),
    ])  # fmt: skip


def _bpf(command: int, attr: bytes) -> int:
    number = SYS_BPF.get(platform.machine())
    if number is None:
        raise CgroupBindError(f"no bpf(2) syscall number known for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(attr, 128)
    result = int(libc.syscall(number, command, buffer, len(buffer.raw)))
    if result < 0:
        error = ctypes.get_errno()
        raise CgroupBindError(f"bpf({command}): {os.strerror(error)}")
    return result


def load_program(ifindex: int, mark: int) -> int:
    """The program's file descriptor."""
    code = ctypes.create_string_buffer(program(ifindex, mark))
    license_ = ctypes.create_string_buffer(b"MIT")
    attr = struct.pack(
        "<IIQQIIQII16sII",
        BPF_PROG_TYPE_CGROUP_SOCK, len(code.raw) // 8, ctypes.addressof(code),
        ctypes.addressof(license_), 0, 0, 0, 0, 0, b"multiwan_use", 0,
        BPF_CGROUP_INET_SOCK_CREATE,
    )  # fmt: skip
    return _bpf(BPF_PROG_LOAD, attr)


def cgroup2_root() -> Path:
    """Where the unified (v2) cgroup hierarchy is mounted (/sys/fs/cgroup, or
    /sys/fs/cgroup/unified on hybrid systems)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup2":
            return Path(fields[4])
    raise CgroupBindError("no cgroup v2 hierarchy is mounted (needed to confine the command)")


def own_cgroup(root: Path) -> Path:
    """This process's cgroup v2 directory (the `0::` line of /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return root / line[3:].lstrip("/")
    return root


def run_bound(ifindex: int, mark: int, argv: Sequence[str], name: str) -> int:
    """Run `argv` with every socket bound to `ifindex` and marked `mark`; its exit status
    (negative: the signal that ended it). The cgroup is a child of this process's own, so
    it stays in the caller's accounting."""
    group = own_cgroup(cgroup2_root()) / f"multiwan-use-{name}-{os.getpid()}"
    try:
        group.mkdir()
    except OSError as exc:
        raise CgroupBindError(f"cannot create cgroup {group}: {exc.strerror}") from None
    try:
        prog = load_program(ifindex, mark)
        directory = os.open(group, os.O_RDONLY | os.O_DIRECTORY)
        try:
            attr = struct.pack("<IIII", directory, prog, BPF_CGROUP_INET_SOCK_CREATE, 0)
            _bpf(BPF_PROG_ATTACH, attr)
        finally:
            os.close(directory)
            os.close(prog)  # the attachment keeps the program
        procs = group / "cgroup.procs"
        try:
            # The child joins the cgroup before exec, so no socket of it escapes.
            child = subprocess.Popen(argv, preexec_fn=lambda: procs.write_text("0"))  # noqa: PLW1509
        except OSError as exc:
            raise CgroupBindError(f"cannot run {argv[0]}: {exc.strerror}") from None
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the command got it too; wait for it to finish
                continue
    finally:
        try:
            group.rmdir()
        except OSError as exc:  # processes the command left running are still bound
            log.warning("cgroup %s kept (%s): processes of the command still run in it; "
                        "rmdir it when they have ended", group, exc.strerror)  # fmt: skip
