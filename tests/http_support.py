"""Shared pieces for the HTTP API's tests: an app over a real engine, and tokens."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qiflow import Engine, Project, hookimpl
from qiflow.http import create_app

API = "/api/v1"
PROBLEM = "application/problem+json"


def bearer(engine: Engine, actor: str, scope: str = "write", **options: object) -> dict[str, str]:
    """Authorization headers for a fresh token of ``actor``."""
    _token, text = engine.create_token(
        actor=actor,
        scope=scope,
        created_by="tests",
        **options,  # type: ignore[arg-type]
    )
    return {"Authorization": f"Bearer {text}"}


def client(app: FastAPI) -> TestClient:
    """A client that sees the app's real answers, 500s included."""
    return TestClient(app, raise_server_exceptions=False)


def problem(response: object, status: int, name: str) -> dict[str, object]:
    """Assert an RFC 9457 problem of type ``name``; return its body."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"urn:qiflow:problem:{name}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert "Traceback" not in response.text  # type: ignore[attr-defined]
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served_app(app: FastAPI) -> Iterator[str]:
    """``app`` on a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def served(engine: Engine) -> Iterator[str]:
    """The engine's API on a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    with served_app(create_app(engine)) as base:
        yield base


class BrokenRoles:
    """A plugin with a bug: asking it for an actor's roles raises."""

    @hookimpl
    def qiflow_actor_roles(self, project: Project, actor: str) -> list[str]:
        raise RuntimeError(f"secret detail of {actor}")


class Turnstile:
    """A plugin that holds a command inside its transaction until ``release`` is called."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.armed = False

    @hookimpl
    def qiflow_actor_roles(self, project: Project, actor: str) -> list[str]:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.released.wait(timeout=30)
        return []
