"""Length-prefixed msgpack frames, the one wire format of workers, children and the daemon.

A frame is a 4-byte big-endian length followed by a msgpack map with a `type` key. The same
helpers serve pipes (raw file descriptors) and sockets, so every hop speaks one format.
"""

from __future__ import annotations

import os
import struct

import msgpack

# Imported for annotations only: `typing` alone would cost the warm shell spin several
# milliseconds (see daemon/client.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


class ProtocolError(RuntimeError):
    """The other side sent something that is not a frame (or closed mid-frame)."""


def encode(msg: dict[str, Any]) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True, default=_default)
    return HEADER.pack(len(body)) + body


def _default(obj: Any) -> Any:
    # Paths, tuples of odd types, numpy scalars...: frames carry data, never objects.
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return str(obj)


def decode_body(body: bytes) -> dict[str, Any]:
    msg = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if not isinstance(msg, dict) or "type" not in msg:
        raise ProtocolError(f"frame without a type: {msg!r:.200}")
    return msg


def write_fd(fd: int, msg: dict[str, Any]) -> None:
    data = memoryview(encode(msg))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _read_exact_fd(fd: int, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            if chunks:
                raise ProtocolError("connection closed mid-frame")
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(read_exact: Callable[[int], bytes | None]) -> dict[str, Any] | None:
    """One frame from any byte source; None at a clean end of stream."""
    head = read_exact(HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    body = read_exact(size) if size else b""
    if body is None:
        raise ProtocolError("connection closed mid-frame")
    return decode_body(body)


def read_fd(fd: int) -> dict[str, Any] | None:
    """Blocking read of one frame; None at a clean end of stream."""
    return _read_frame(lambda n: _read_exact_fd(fd, n))


def send_sock(sock: Any, msg: dict[str, Any]) -> None:  # socket.socket or _socket.socket
    sock.sendall(encode(msg))


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if buf:
                raise ProtocolError("connection closed mid-frame")
            return None
        buf += chunk
    return bytes(buf)


def recv_sock(sock: Any) -> dict[str, Any] | None:  # socket.socket or _socket.socket
    return _read_frame(lambda n: _recv_exact(sock, n))


class FrameBuffer:
    """Incremental decoder for non-blocking reads (the worker multiplexes many pipes)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if len(self._buf) < HEADER.size + size:
                break
            body = bytes(self._buf[HEADER.size : HEADER.size + size])
            del self._buf[: HEADER.size + size]
            out.append(decode_body(body))
        return out
