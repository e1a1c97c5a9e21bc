"""A minimal Debug Adapter Protocol client over TCP, as an editor talks to debugpy.

Messages are JSON with a `Content-Length` header. A reader thread files every message it
receives, so a test can wait for a response or an event by what it is, never by a delay.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any


class DapClient:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.timeout = timeout
        self.seq = 0
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="dap-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(buf) < length:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                with self.cond:
                    self.messages.append(json.loads(body))
                    self.cond.notify_all()
        except OSError:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def send(self, command: str, **arguments: Any) -> int:
        """Send a request; its sequence number (answer with `response`)."""
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        body = json.dumps(msg).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _wait(self, match: Any, what: str) -> dict[str, Any]:
        with self.cond:
            ok = self.cond.wait_for(
                lambda: any(match(m) for m in self.messages) or self.closed, self.timeout
            )
            found = next((m for m in self.messages if match(m)), None)
            if found is None:
                seen = [m.get("event") or m.get("command") for m in self.messages]
                why = "timed out" if not ok else "connection closed"
                raise AssertionError(f"DAP: {why} waiting for {what}; got {seen}")
            self.messages.remove(found)
            return found

    def response(self, seq: int) -> dict[str, Any]:
        msg = self._wait(
            lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
            f"the response to request {seq}",
        )
        assert msg["success"], msg
        return msg.get("body") or {}

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        return self.response(self.send(command, **arguments))

    def event(self, name: str) -> dict[str, Any]:
        msg = self._wait(
            lambda m: m.get("type") == "event" and m.get("event") == name, f"event {name}"
        )
        return msg.get("body") or {}

    def close(self) -> None:
        """Hang up as an editor does: shutdown first, since a plain close while the reader is
        blocked in recv would leave the connection open (and the adapter waiting on it)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(10)
