"""Who is calling: bearer tokens, scopes, acting for a person, and the sign-in limiter.

A token acts as its person: roles and separation of duties apply to that person
exactly as on the command line. A service token with the ``act_as`` grant may
name the person it acts for in the ``Qiflow-Act-As`` header; the command then runs
as that person and the event records the service too. Failed authentications are
counted per client address; past the limit the client gets 429 until the window
has passed. Nothing here logs a token or a person's id.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qiflow import Engine, Token
from qiflow.http.problems import ProblemError

ACT_AS_HEADER = "Qiflow-Act-As"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `qiflow token create` (scope read, write or admin).",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    token: Token
    #: The person commands run as (the named person when acting for one).
    actor: str
    #: The service token's own actor when it acts for ``actor``; else None.
    service: str | None = None

    @property
    def token_id(self) -> str:
        return self.token.id

    @property
    def scope(self) -> str:
        return self.token.scope


class FailureLimiter:
    """Counts failed authentications per client in a sliding window (per process)."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must wait, or None if it may try."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                if not times:
                    self._failures.pop(client, None)
                return None
            return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client, time.monotonic()).append(time.monotonic())


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _unauthorized(detail: str, error: str = "invalid_token") -> ProblemError:
    return ProblemError(
        "unauthorized",
        detail,
        headers={"WWW-Authenticate": f'Bearer realm="qiflow", error="{error}"'},
    )


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    act_as: Annotated[
        str | None,
        Header(
            alias=ACT_AS_HEADER,
            max_length=200,
            description="The person a service token with the act_as grant acts for.",
        ),
    ] = None,
) -> Caller:
    """The caller, from ``Authorization: Bearer <token>`` (401 or 429 if refused)."""
    limiter: FailureLimiter = request.app.state.limiter
    client = _client(request)
    wait = limiter.retry_after(client)
    if wait is not None:
        raise ProblemError(
            "too-many-requests",
            f"too many failed authentications from this client; retry in {wait} s",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    if credentials is None or credentials.scheme.lower() != "bearer":
        limiter.failed(client)
        raise ProblemError(
            "unauthorized",
            "this operation needs a bearer token: `Authorization: Bearer <token>` "
            "(create one with `qiflow token create`)",
            headers={"WWW-Authenticate": 'Bearer realm="qiflow"'},
        )
    engine: Engine = request.app.state.engine
    token = engine.authenticate(credentials.credentials)
    if token is None:
        limiter.failed(client)
        raise _unauthorized("the bearer token is unknown, revoked or expired")
    if act_as is not None and act_as.strip() and act_as.strip() != token.actor:
        if not token.act_as:
            raise ProblemError(
                "act-as-not-granted",
                f"this token may not act for another person ({ACT_AS_HEADER}); ask an "
                "administrator for a token created with --act-as",
            )
        return Caller(token, act_as.strip(), service=token.actor)
    return Caller(token, token.actor)


def require(scope: str) -> Callable[[Caller], Caller]:
    """A dependency that lets through callers whose token has ``scope`` (or a wider one)."""

    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if not caller.token.allows(scope):
            raise ProblemError(
                "insufficient-scope",
                f"this operation needs a token with scope {scope!r}; this one has {caller.scope!r}",
                headers={
                    "WWW-Authenticate": f'Bearer realm="qiflow", error="insufficient_scope", '
                    f'scope="{scope}"'
                },
                required_scope=scope,
            )
        return caller

    return check


Reader = Annotated[Caller, Depends(require("read"))]
Writer = Annotated[Caller, Depends(require("write"))]
Admin = Annotated[Caller, Depends(require("admin"))]
