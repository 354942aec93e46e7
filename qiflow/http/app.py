"""The ASGI application: ``create_app(engine)``.

The API lives under ``/api/v1``; ``/openapi.json``, ``/docs``, ``/health`` and
``/ready`` are at the root, which the web pages share. The app only uses the
engine's public API, so a Python host can mount it inside its own application.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import qiflow
from qiflow import Engine
from qiflow.http.access import ACT_AS_HEADER, FailureLimiter
from qiflow.http.commands import KEY_EXPIRY
from qiflow.http.problems import (
    TYPES,
    Problem,
    ProblemError,
    install_handlers,
    plugin_of,
    problem_response,
)
from qiflow.http.routes import catalog, charter, governance, projects, records, service, tokens
from qiflow.http.routes.common import API
from qiflow.logs import get_logger

log = get_logger("qiflow.http")

DESCRIPTION = f"""
The qiflow engine over HTTP: every command and query of the Python API.

**Authentication.** Every operation except `/health`, `/ready`, `/openapi.json` and
`/docs` needs `Authorization: Bearer <token>` (`qiflow token create`). Scopes: `read`
(queries), `write` (commands), `admin` (also tokens and the people directory); each
includes the ones before it. A service token with the act_as grant names the person it
acts for in `{ACT_AS_HEADER}`. Too many failed authentications from one client: 429.

**Optimistic concurrency** (RFC 9110, RFC 6585). A project's `ETag` is its version,
strong and quoted (`"7"`). `If-Match` is required on update and fire (428 when missing,
412 when stale) and optional, checked when given, on appends (data points, PDSA
records, reviews, sign-off requests and decisions).

**Idempotency** (draft-ietf-httpapi-idempotency-key-header). Send `Idempotency-Key`
(bare or a quoted string) on a command: a repeat returns the first response (even if
the ETag has moved on since); the same key with a different payload is 422; a request
still in flight with the key is 409. Keys are scoped to the token and expire
{int(KEY_EXPIRY.total_seconds() // 3600)} hours after first use. Responses that are not
stored, so that a retry with the same key runs again: 412, 428 and 5xx.

**Errors** are `application/problem+json` (RFC 9457) with a stable `type` per class
of error; see the `Problem` schema and each operation's responses. Types:
{chr(10).join(f"- `{t.uri}` ({t.status}): {t.description}" for t in TYPES.values())}

**Lists** use cursor pagination with `Link: <...>; rel="next"` (RFC 8288); created
resources come with `Location`.

**Events.** `GET {API}/events?after=SEQ&wait=SECONDS` is a long poll over the event
trail: it returns every committed event after `SEQ`, without gaps.
"""


class RequestLog:
    """Logs each request by operation name (never its path, query or headers, which may
    name people or carry tokens), and answers an unexpected exception with a problem
    and no stack trace."""

    def __init__(self, app: ASGIApp, plugin_modules: dict[str, str]) -> None:
        self.app, self.plugin_modules = app, plugin_modules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            plugin = plugin_of(exc.__traceback__, self.plugin_modules)
            log.error(
                "request failed",
                method=scope.get("method"),
                operation=_operation(scope),
                error=type(exc).__name__,
                plugin=plugin,
                exc_info=exc,
            )
            if status:
                return
            if plugin is not None:
                response = problem_response(
                    "plugin-failed",
                    f"the plugin {plugin!r} failed ({type(exc).__name__})",
                    instance=scope.get("path"),
                    plugin=plugin,
                )
            else:
                response = problem_response(
                    "internal-error",
                    "an unexpected error occurred; it has been logged",
                    instance=scope.get("path"),
                )
            await response(scope, receive, tracking_send)
        log.info(
            "request",
            method=scope.get("method"),
            operation=_operation(scope),
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )


def _operation(scope: Scope) -> str | None:
    route = scope.get("route")
    return getattr(route, "name", None)


def _plugin_modules(engine: Engine) -> dict[str, str]:
    """Module prefix -> plugin name, for the plugins that are not qiflow's own."""
    found: dict[str, str] = {}
    for name, plugin in engine.pm.list_name_plugin():
        module = getattr(plugin, "__name__", None) if isinstance(plugin, type(qiflow)) else None
        module = module or type(plugin).__module__
        if module != "qiflow" and not module.startswith("qiflow."):
            found[module] = type(plugin).__name__ if str(name).isdigit() else str(name)
    return found


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL character anywhere in the path, query or body: no database stores it
    in text (PostgreSQL refuses it), so it can only be a mistake or a probe."""
    body = await request.body()
    if (
        "\x00" in request.url.path
        or "%00" in str(request.url)
        or b"\\u0000" in body
        or b"\x00" in body
    ):
        raise ProblemError("invalid-request", "the request contains a NUL character (U+0000)")


def describe_workflows(schema: dict[str, Any], engine: Engine) -> None:
    """Fill in what depends on the loaded workflows: the workflow names a project may be
    created on, and the first step the create -> fire link takes."""
    components = schema["components"]["schemas"]
    components["ProjectCreate"]["properties"]["workflow"]["enum"] = engine.registry.names()
    default = engine.workflow()
    first = default.triggers_from(default.initial.name)
    links = schema["paths"][f"{API}/projects"]["post"]["responses"]["201"]["links"]
    if first:
        links["fire"]["requestBody"] = {"trigger": first[0], "data": {}}


def create_app(
    engine: Engine,
    *,
    cors_origins: Sequence[str] = (),
    auth_failures: int = 10,
    auth_window: float = 60.0,
) -> FastAPI:
    """The HTTP API over ``engine`` as an ASGI application.

    ``cors_origins``: origins allowed to call the API from a browser (none by default).
    ``auth_failures`` failed authentications per client within ``auth_window`` seconds
    are allowed before the client gets 429.
    """
    app = FastAPI(
        title="qiflow",
        version=qiflow.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul)],
    )
    app.state.engine = engine
    app.state.limiter = FailureLimiter(auth_failures, auth_window)
    plugins = _plugin_modules(engine)
    install_handlers(app)
    app.include_router(service.router)
    for router in (
        projects.router,
        records.router,
        charter.router,
        governance.router,
        governance.people_router,
        catalog.router,
        tokens.router,
    ):
        app.include_router(router, prefix=API)
    service.mount_docs(app, "/openapi.json")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema()
            )
            describe_workflows(schema, engine)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                ACT_AS_HEADER,
            ],
            expose_headers=["ETag", "Location", "Link", "Retry-After"],
        )
    app.add_middleware(RequestLog, plugin_modules=plugins)
    return app
