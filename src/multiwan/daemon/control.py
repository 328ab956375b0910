"""The control socket: a Unix socket speaking one JSON object per line each way.

Request: {"version": 1, "command": "status", "args": {}}; reply: {"version": 1, "ok": true,
"result": ...} or {"version": 1, "ok": false, "error": "..."}. The kernel tells who is
calling (SO_PEERCRED): root may do anything, members of `status_group` may read status and
log, anyone else is refused. The socket itself is 0660, root and that group.
"""

import asyncio
import contextlib
import grp
import json
import os
import socket
import struct
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from multiwan.daemon.events import Control

PROTOCOL_VERSION = 1
READ_ONLY = {"status", "log"}
SOCKET_NAME = "control.sock"
#: The arguments of each command and their types; anything else is refused before the
#: engine sees it. A bool is a flag: it may be left out (false).
COMMANDS: dict[str, dict[str, type]] = {
    "status": {},
    "log": {},
    "reload": {},
    "reload_confirm": {"seconds": int},
    "confirm": {},
    "mode": {"mode": str, "persist": bool},
    "weight": {"link": str, "weight": int},
    "link": {"link": str, "action": str},
    "backend": {"service": str, "backend": str, "action": str},
}
MAX_REQUEST = 16 * 1024  # bytes in one request line
MAX_ARGUMENT = 256  # characters in one string argument
MAX_SESSIONS = 128  # open connections in all
MAX_SESSIONS_PER_USER = 8  # open connections of one non-root user
IDLE_TIMEOUT = 30.0  # seconds a connection may wait between (or within) requests


class BadRequest(Exception):
    """A request the daemon will not pass on; the message says what is expected."""


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def _peer(sock: socket.socket) -> tuple[int, int]:
    """(uid, gid) of the connected process."""
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


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """The command and its arguments, each checked against COMMANDS."""
    try:
        request = json.loads(line)
    except ValueError:
        raise BadRequest("malformed request: expected a JSON object with 'command'") from None
    if not isinstance(request, dict) or not isinstance(request.get("command"), str):
        raise BadRequest("malformed request: expected a JSON object with 'command'")
    if request.get("version", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise BadRequest(f"unsupported protocol version {request.get('version')!r}")
    command, args = request["command"], request.get("args") or {}
    if command not in COMMANDS:
        raise BadRequest(f"unknown command {command[:MAX_ARGUMENT]!r}: expected one of "
                         f"{', '.join(COMMANDS)}")  # fmt: skip
    if not isinstance(args, dict):
        raise BadRequest("malformed request: 'args' must be an object")
    wanted = COMMANDS[command]
    if extra := sorted(set(args) - set(wanted)):
        raise BadRequest(f"{command}: unexpected argument {extra[0][:MAX_ARGUMENT]!r}")
    for name, kind in wanted.items():
        value = args.get(name)
        if kind is bool and not isinstance(value, bool | None):
            raise BadRequest(f"{command}: '{name}' must be true or false, got {value!r}"[:300])
        if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise BadRequest(f"{command}: '{name}' must be an integer, got {value!r}"[:300])
        if kind is str and (not isinstance(value, str) or not 0 < len(value) <= MAX_ARGUMENT):
            raise BadRequest(f"{command}: '{name}' must be a text of 1-{MAX_ARGUMENT} "
                             f"characters, got {value!r}"[:300])  # fmt: skip
    return command, args


def _bind(path: Path, group: int | None) -> socket.socket:
    """The listening socket, 0660 root:group from the moment it is reachable at `path`: it
    is bound, chmod'ed and chown'ed in a private directory, then renamed into place."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".control-") as private:
            staged = Path(private) / SOCKET_NAME
            sock.bind(str(staged))
            os.chmod(staged, 0o660)
            if group is not None:
                os.chown(staged, 0, group)
            staged.rename(path)
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def serve_control(
    state_dir: Path,
    status_group: str | None,
    post: Callable[[Control], None],
    daemon_status: Callable[[], dict[str, object]] = dict,
    before_status: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve requests forever; each becomes a Control event answered by the engine.
    `daemon_status` adds what the daemon says of itself to `status` replies;
    `before_status` runs first, outside the engine (connection counts)."""
    path = socket_path(state_dir)
    group = grp.getgrnam(status_group).gr_gid if status_group else None
    sessions: dict[int, int] = {}  # uid -> open connections

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid, gid = _peer(writer.get_extra_info("socket"))
        try:
            refused = _over_limit(uid)
            sessions[uid] = sessions.get(uid, 0) + 1
            if refused:
                await _send(writer, _reply(False, error=refused))
                return
            while line := await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT):
                await _send(writer, await _answer(line, uid, gid))
        except ValueError:  # the line is over the reader's limit
            await _send(writer, _reply(False, error=f"request too large: at most "
                                                    f"{MAX_REQUEST} bytes"))  # fmt: skip
        except (ConnectionError, TimeoutError):
            pass
        finally:
            sessions[uid] -= 1
            writer.close()

    def _over_limit(uid: int) -> str | None:
        if sum(sessions.values()) >= MAX_SESSIONS:
            return f"too many connections (at most {MAX_SESSIONS})"
        if uid != 0 and sessions.get(uid, 0) >= MAX_SESSIONS_PER_USER:
            return f"too many connections of this user (at most {MAX_SESSIONS_PER_USER})"
        return None

    async def _answer(line: bytes, uid: int, gid: int) -> dict[str, Any]:
        try:
            command, args = parse_request(line)
        except BadRequest as exc:
            return _reply(False, error=str(exc))
        if not _may(uid, gid, command, group):
            return _reply(False, error=f"permission denied: {command!r} needs root")
        if command == "status" and before_status is not None:
            await before_status()
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        post(Control(command, args, reply))
        answer = await reply
        if command == "status" and answer.get("ok"):
            answer["result"] = {**answer["result"], "daemon": daemon_status()}
        return {"version": PROTOCOL_VERSION, **answer}

    server = await asyncio.start_unix_server(session, sock=_bind(path, group), limit=MAX_REQUEST)
    async with server:
        await server.serve_forever()


async def _send(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    writer.write(json.dumps(reply).encode() + b"\n")
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT)


def _reply(ok: bool, error: str) -> dict[str, Any]:
    return {"version": PROTOCOL_VERSION, "ok": ok, "error": error}
