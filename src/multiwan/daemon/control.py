"""The control socket: a Unix socket speaking one JSON object per line each way.

Request: {"version": 1, "command": "status", "args": {}}; reply: {"version": 1, "ok": true,
"result": ...} or {"version": 1, "ok": false, "error": "..."}. The kernel tells who is
calling (SO_PEERCRED): root may do anything, members of `status_group` may read status and
log, anyone else is refused. The socket itself is 0660, root and that group.
"""

import asyncio
import grp
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from multiwan.daemon.events import Control, DaemonEvent

PROTOCOL_VERSION = 1
READ_ONLY = {"status", "log"}
SOCKET_NAME = "control.sock"


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def _peer(writer: asyncio.StreamWriter) -> tuple[int, int]:
    """(uid, gid) of the connected process."""
    sock: socket.socket = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, gid = struct.unpack("3i", creds)
    return uid, gid


def _may(uid: int, gid: int, command: str, group: int | None) -> bool:
    if uid == 0:
        return True
    if group is None or command not in READ_ONLY:
        return False
    if gid == group:
        return True
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return name in grp.getgrgid(group).gr_mem


async def serve_control(
    state_dir: Path, status_group: str | None, post: "asyncio.Queue[DaemonEvent]"
) -> None:
    """Serve requests forever; each becomes a Control event answered by the engine."""
    path = socket_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    group = grp.getgrnam(status_group).gr_gid if status_group else None

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid, gid = _peer(writer)
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await _answer(line, uid, gid)).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(line: bytes, uid: int, gid: int) -> dict[str, Any]:
        try:
            request = json.loads(line)
            command, args = str(request["command"]), dict(request.get("args") or {})
        except (ValueError, KeyError, TypeError):
            return _reply(False, error="malformed request: expected a JSON object with 'command'")
        if request.get("version", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            return _reply(False, error=f"unsupported protocol version {request.get('version')}")
        if not _may(uid, gid, command, group):
            return _reply(False, error=f"permission denied: {command!r} needs root")
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        post.put_nowait(Control(command, args, reply))
        return {"version": PROTOCOL_VERSION, **await reply}

    server = await asyncio.start_unix_server(session, path=str(path))
    os.chmod(path, 0o660)
    if group is not None:
        os.chown(path, 0, group)
    async with server:
        await server.serve_forever()


def _reply(ok: bool, error: str) -> dict[str, Any]:
    return {"version": PROTOCOL_VERSION, "ok": ok, "error": error}
