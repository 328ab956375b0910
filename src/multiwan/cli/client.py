"""Talk to the running daemon over its control socket (one JSON line each way)."""

import json
import socket
from pathlib import Path
from typing import Any

from multiwan.daemon.control import PROTOCOL_VERSION, socket_path

TIMEOUT = 10.0  # seconds for the daemon to answer


class NotRunning(Exception):
    """No daemon answers on the control socket."""


class Refused(Exception):
    """The daemon answered with an error (permission, unknown link, bad mode...)."""


def request(state_dir: Path, command: str, **args: Any) -> Any:
    path = socket_path(state_dir)
    message = {"version": PROTOCOL_VERSION, "command": command, "args": args}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = json.loads(sock.makefile().readline() or "null")
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise NotRunning(f"multiwan is not running (no daemon on {path})") from exc
    except PermissionError as exc:
        raise Refused(f"permission denied on {path}") from exc
    except TimeoutError as exc:
        raise NotRunning(f"no answer from the daemon on {path} within {TIMEOUT:g} s") from exc
    except (OSError, ValueError) as exc:  # a full backlog (EAGAIN), a reply cut short
        raise NotRunning(f"cannot talk to the daemon on {path}: {exc}") from exc
    if not isinstance(reply, dict):
        raise NotRunning(f"no answer from the daemon on {path}")
    if not reply.get("ok"):
        raise Refused(str(reply.get("error")))
    return reply["result"]
