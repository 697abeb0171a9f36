"""An HTTP proxy of the tests' own that injects faults between a client and a real server.

Point the client at `proxy.url` instead of the server; every request is forwarded
unchanged (one request per connection: the proxy adds `Connection: close` both ways, so
it never has to parse bodies) and recorded in `proxy.requests`. Faults are queued with
`inject()` and consumed by the matching requests:

    with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.inject(Fault.cut_body(after_bytes=100), method="GET", times=1)
        proxy.inject(Fault.respond(503, b"<Error><Code>SlowDown</Code></Error>"), times=2)
        proxy.inject(Fault.respond(403, headers={"Retry-After": "1"}), path_contains="/issues")
        proxy.inject(Fault.drop())         # close the connection without an answer
        proxy.inject(Fault.delay(2.5))     # answer late (then forward normally)
        proxy.inject(Fault.lose_answer(503), path_contains="/create")  # done, but the
        #                                  client hears 503 (a retry must not do it twice)
        ...
        assert proxy.count("GET") == 2

A rule with `times=None` applies to every matching request until `clear()`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 1 << 16


@dataclass(frozen=True)
class Fault:
    """What to do to a request instead of (or while) forwarding it."""

    kind: str  # "cut_body" | "respond" | "drop" | "delay" | "lose_answer"
    after_bytes: int = 0
    status: int = 0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @classmethod
    def cut_body(cls, after_bytes: int) -> Fault:
        """Forward the answer's head and `after_bytes` of its body, then close the connection."""
        return cls("cut_body", after_bytes=after_bytes)

    @classmethod
    def respond(
        cls, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Fault:
        """Answer with this status, body and headers; the server never sees the request."""
        return cls("respond", status=status, body=body, headers=tuple((headers or {}).items()))

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the connection without answering."""
        return cls("drop")

    @classmethod
    def lose_answer(
        cls, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Fault:
        """Forward the request and let the server act on it, but answer the client with this
        status instead of the server's answer (a gateway timing out after the work is done)."""
        return cls("lose_answer", status=status, body=body, headers=tuple((headers or {}).items()))

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait, then forward as usual (a slow server, or a client's read timeout)."""
        return cls("delay", seconds=seconds)


@dataclass
class Request:
    """One request as the proxy saw it, and what became of it."""

    method: str
    path: str
    status: int | None  # the status the client got (None: no answer yet, or none at all)
    fault: str | None  # the fault applied, if any


@dataclass
class _Rule:
    fault: Fault
    method: str | None
    path_contains: str | None
    times: int | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


@dataclass
class FaultProxy:
    """A loopback proxy to `upstream` (http://host:port) with faults injected on cue."""

    upstream: str
    requests: list[Request] = field(default_factory=list, init=False)
    _rules: list[_Rule] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {self.upstream!r}")
        self._target = (parts.hostname, parts.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="faultproxy", daemon=True)
        self._thread.start()

    # --- the API tests use ---------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Apply `fault` to the next `times` requests that match (None: to all of them)."""
        with self._lock:
            self._rules.append(_Rule(fault, method, path_contains, times))

    def clear(self) -> None:
        """Forget the faults not yet used and the requests seen so far."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests matched, by method and a part of the path."""
        with self._lock:
            return sum(
                1
                for seen in self.requests
                if (method is None or seen.method == method)
                and (path_contains is None or path_contains in seen.path)
            )

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the proxy ---------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule.fault
        return None

    def _record(self, method: str, path: str, fault: Fault | None) -> Request:
        seen = Request(method, path, None, fault.kind if fault else None)
        with self._lock:
            self.requests.append(seen)
        return seen

    def _handle(self, client: socket.socket) -> None:
        try:
            self._exchange(client)
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)  # also wakes the thread copying the body
            client.close()

    def _exchange(self, client: socket.socket) -> None:
        client.settimeout(30)
        try:
            head, rest = _read_head(client)
        except OSError:
            return
        if head is None:
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, path = [*request_line.split(" "), "", ""][:2]
        fault = self._take_fault(method, path)
        # Recorded on arrival, so a test counting requests never races the answer.
        seen = self._record(method, path, fault)
        if fault is not None and fault.kind == "drop":
            return
        if fault is not None and fault.kind == "respond":
            _drain_body(client, head, rest)
            seen.status = fault.status
            with contextlib.suppress(OSError):
                client.sendall(_canned(method, fault))
            return
        if fault is not None and fault.kind == "lose_answer":
            body = _read_body(client, head, rest)
            self._forward_and_discard(_with_close(head) + body)
            seen.status = fault.status
            with contextlib.suppress(OSError):
                client.sendall(_canned(method, fault))
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        limit = fault.after_bytes if fault is not None and fault.kind == "cut_body" else None
        self._forward(client, _with_close(head), rest, limit, seen)

    def _forward_and_discard(self, request: bytes) -> None:
        """Send a whole request to the server and read its answer to the end, unseen."""
        with contextlib.suppress(OSError), socket.create_connection(self._target, 30) as upstream:
            upstream.sendall(request)
            while upstream.recv(1 << 16):
                pass

    def _forward(
        self,
        client: socket.socket,
        head: bytes,
        rest: bytes,
        body_limit: int | None,
        seen: Request,
    ) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=30)
        except OSError:
            return
        with upstream:
            upstream.sendall(head + rest)
            pump = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
            pump.start()
            try:
                answer_head, body = _read_head(upstream)
                if answer_head is None:
                    return
                # Set before the client has the answer, so a test never sees it unset.
                seen.status = int(answer_head.split(b" ", 2)[1])
                client.sendall(_with_close(answer_head))
                sent = 0
                while True:
                    if body_limit is not None and sent + len(body) >= body_limit:
                        # The connection closes here: the client sees the body end early.
                        client.sendall(body[: body_limit - sent])
                        return
                    client.sendall(body)
                    sent += len(body)
                    body = upstream.recv(1 << 16)
                    if not body:
                        return
            except OSError:
                return
            finally:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_RDWR)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The message head (through the blank line) and whatever of the body came with it."""
    buffer = b""
    while _HEAD_END not in buffer:
        chunk = sock.recv(1 << 16)
        if not chunk or len(buffer) > _MAX_HEAD:
            return None, b""
        buffer += chunk
    end = buffer.index(_HEAD_END) + len(_HEAD_END)
    return buffer[:end], buffer[end:]


def _with_close(head: bytes) -> bytes:
    """The same head with `Connection: close`, so each connection carries one exchange."""
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*kept, b"Connection: close"]) + _HEAD_END


def _read_body(client: socket.socket, head: bytes, rest: bytes) -> bytes:
    """The request body by its Content-Length (mlgate's clients never send chunked bodies)."""
    body = rest
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
            while len(body) < length:
                chunk = client.recv(min(length - len(body), 1 << 16))
                if not chunk:
                    break
                body += chunk
    return body


def _drain_body(client: socket.socket, head: bytes, rest: bytes) -> None:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            remaining = int(line.split(b":", 1)[1]) - len(rest)
            while remaining > 0:
                chunk = client.recv(min(remaining, 1 << 16))
                if not chunk:
                    return
                remaining -= len(chunk)


def _canned(method: str, fault: Fault) -> bytes:
    try:
        reason = HTTPStatus(fault.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {fault.status} {reason}", f"Content-Length: {len(fault.body)}"]
    lines += [f"{name}: {value}" for name, value in fault.headers]
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if method == "HEAD" else head + fault.body


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy the rest of the request body to the server until either side closes."""
    with contextlib.suppress(OSError):
        while True:
            chunk = source.recv(1 << 16)
            if not chunk:
                return
            target.sendall(chunk)
