"""Whether a server process has accepted one of our connections (Linux ``/proc``).

The kernel completes a TCP handshake before the server accepts: a client cannot tell
from its own end whether its connection is still in the listening socket's queue (and
would be reset if the server stopped listening now) or is already the server's. A test
about a request "in flight" must first know that the server holds it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["accepted_by"]


def _address(host: str, port: int) -> str:
    """``/proc/net/tcp``'s spelling of an IPv4 address and port."""
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def _inode(conn: socket.socket) -> str | None:
    """The inode of the server's end of ``conn`` (``None`` while it has none)."""
    here = _address(*conn.getsockname())
    there = _address(*conn.getpeername())
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == there and fields[2] == here and fields[9] != "0":
            return fields[9]
    return None


def accepted_by(pid: int, conn: socket.socket) -> bool:
    """True once the process ``pid`` has accepted ``conn`` (holds a descriptor of it)."""
    inode = _inode(conn)
    if inode is None:
        return False
    wanted = f"socket:[{inode}]"
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == wanted:
                return True
        except OSError:  # closed while we looked
            continue
    return False
