"""A real HTTP server on 127.0.0.1 for the webhook tests: a receiver that records every
request (path, headers, raw and JSON body), can check signatures as a receiver would,
and answers from a queue of replies (status, headers, delay)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "SECRET-TOKEN-123"
HOOK_PATH = f"/hook/{SECRET}"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    verified: bool | None = None  # by the receiver's standardwebhooks check, if it has one


class HookServer:
    """Records each request and answers with the next queued :class:`Reply` (200 when none)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        #: A receiver's signature check: requests it refuses are answered 401.
        self.verify: Callable[[bytes, dict[str, str]], bool] | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = None if server.verify is None else server.verify(raw, headers)
                with server._lock:
                    server.requests.append(
                        Received(
                            "POST",
                            self.path,
                            headers,
                            json.loads(raw) if raw else None,
                            raw,
                            verified,
                        )
                    )
                    if verified is False:
                        reply = Reply(401)
                    else:
                        reply = server.replies.pop(0) if server.replies else Reply()
                if reply.delay:
                    server._closing.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (a timeout test)
                    pass

            do_GET = do_POST  # a followed redirect would arrive as either

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + HOOK_PATH
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def close(self) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
