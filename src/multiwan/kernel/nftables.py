"""In-process nftables through the system's libnftables (ctypes).

In-process is ~10x faster than an `nft -f` subprocess for the small runtime updates the
daemon makes (FIELD-NOTES), and a script given to `run` is one transaction: all or nothing.
"""

import ctypes
import json
import threading
from typing import Any

from multiwan.kernel.errors import KernelError

_NFT_CTX_OUTPUT_JSON = 1 << 4
_NFT_CTX_OUTPUT_HANDLE = 1 << 3


class Nftables:
    """One libnftables context; thread-safe (calls are serialised)."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError as exc:
            raise KernelError(f"cannot load libnftables.so.1 (install nftables): {exc}") from exc
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_get_flags.restype = ctypes.c_uint32
        lib.nft_ctx_output_get_flags.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)
        self._lock = threading.Lock()

    def _run(self, script: str, *, json_output: bool, dry_run: bool) -> str:
        lib, ctx = self._lib, self._ctx
        with self._lock:
            flags = lib.nft_ctx_output_get_flags(ctx)
            if json_output:
                lib.nft_ctx_output_set_flags(ctx, flags | _NFT_CTX_OUTPUT_JSON)
            lib.nft_ctx_set_dry_run(ctx, dry_run)
            try:
                rc = lib.nft_run_cmd_from_buffer(ctx, script.encode())
                out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
                err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
            finally:
                lib.nft_ctx_output_set_flags(ctx, flags)
                lib.nft_ctx_set_dry_run(ctx, False)
        if rc != 0:
            raise KernelError(f"nft rejected the transaction:\n{err.strip()}")
        return out

    def run(self, script: str) -> str:
        """Apply `script` as one atomic transaction; raise KernelError and change nothing."""
        return self._run(script, json_output=False, dry_run=False)

    def check(self, script: str) -> None:
        """Validate `script` against the kernel without applying it (`nft -c`)."""
        self._run(script, json_output=False, dry_run=True)

    def list_json(self, what: str) -> list[dict[str, Any]] | None:
        """`nft -j list <what>` as its `nftables` array; None if the object does not exist."""
        try:
            out = self._run(f"list {what}", json_output=True, dry_run=False)
        except KernelError as exc:
            if "No such file or directory" in str(exc):
                return None
            raise
        items: list[dict[str, Any]] = json.loads(out)["nftables"]
        return items
