"""Problem details (RFC 9457): every error the API returns, with a stable type per class.

Each kind of error has one :class:`ProblemType` (its ``type`` URI, title and status).
:func:`problem_for` turns qiflow's exceptions into a :class:`Problem`; the
handlers installed by :func:`install_handlers` make sure that nothing else, not
even Starlette's own 404 and 405 or FastAPI's request validation, answers with
another shape, and that no stack trace ever reaches a client.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from qiflow import (
    ConcurrencyConflict,
    DatabaseError,
    GuardFailed,
    InvalidTransition,
    PermissionDenied,
    PluginError,
    QiflowError,
    UnknownProject,
    ValidationError,
    WorkflowDefinitionError,
)
from qiflow.logs import get_logger

log = get_logger("qiflow.http")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:qiflow:problem:"


@dataclass(frozen=True)
class ProblemType:
    """One class of error: its stable ``type`` URI, short title and HTTP status."""

    name: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.name


def _types(*types: ProblemType) -> dict[str, ProblemType]:
    return {t.name: t for t in types}


#: Every problem type the API can answer with, by name.
TYPES: dict[str, ProblemType] = _types(
    ProblemType(
        "unauthorized",
        401,
        "Authentication required",
        "No bearer token, or one that is unknown, revoked or expired.",
    ),
    ProblemType(
        "insufficient-scope",
        403,
        "Insufficient scope",
        "The token's scope does not allow this operation (`required_scope`).",
    ),
    ProblemType(
        "act-as-not-granted",
        403,
        "Acting for another person is not granted",
        "The request names a person in `Qiflow-Act-As` but the token has no act_as grant.",
    ),
    ProblemType(
        "permission-denied",
        403,
        "Permission denied",
        "The person may not do this (roles, separation of duties).",
    ),
    ProblemType("not-found", 404, "Not found", "No such resource."),
    ProblemType(
        "unknown-project",
        404,
        "Unknown project",
        "No project has that id or reference (`project`).",
    ),
    ProblemType(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The resource does not support this method (`allowed`).",
    ),
    ProblemType(
        "invalid-transition",
        409,
        "Invalid transition",
        "The trigger cannot fire from the project's state; `allowed` lists the triggers that can.",
    ),
    ProblemType(
        "guard-failed",
        409,
        "Transition blocked",
        "The transition's requirements are not met; `unmet` lists every one.",
    ),
    ProblemType(
        "concurrency-conflict",
        409,
        "Concurrent change",
        "The project changed while the request ran (`current_version`); read it "
        "again and retry with If-Match.",
    ),
    ProblemType(
        "idempotency-key-in-flight",
        409,
        "Request with this key in flight",
        "A request with the same Idempotency-Key is still being processed; retry later.",
    ),
    ProblemType(
        "precondition-failed",
        412,
        "Precondition failed",
        "If-Match does not match the project's current ETag (`current_etag`).",
    ),
    ProblemType(
        "invalid-request",
        422,
        "Invalid request",
        "The request does not match the operation's schema; `errors` says where.",
    ),
    ProblemType(
        "validation-error",
        422,
        "Validation error",
        "qiflow refused the input (the detail says why).",
    ),
    ProblemType(
        "workflow-error",
        422,
        "Workflow problem",
        "The named workflow or version does not exist or is invalid (`problems`).",
    ),
    ProblemType(
        "idempotency-key-reused",
        422,
        "Idempotency key reused",
        "The Idempotency-Key was already used with a different request.",
    ),
    ProblemType(
        "precondition-required",
        428,
        "Precondition required",
        "This operation changes a project and needs an If-Match header with its ETag.",
    ),
    ProblemType(
        "too-many-requests",
        429,
        "Too many failed sign-ins",
        "Too many failed authentications from this client; wait `Retry-After` seconds.",
    ),
    ProblemType(
        "plugin-failed",
        500,
        "A plugin failed",
        "An installed plugin raised an error (`plugin`); nothing was changed.",
    ),
    ProblemType(
        "internal-error",
        500,
        "Internal error",
        "An unexpected error; it has been logged. Nothing is disclosed.",
    ),
    ProblemType(
        "database-unavailable",
        503,
        "Database unavailable",
        "The database is unreachable or not at this qiflow's schema.",
    ),
)

_BY_STATUS = {404: "not-found", 405: "method-not-allowed"}


class Problem(BaseModel):
    """An RFC 9457 problem details object (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[TYPES["guard-failed"].uri])
    title: str = Field(examples=[TYPES["guard-failed"].title])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["QI-0001: 'plan_measurement' is blocked: no aim"])
    instance: str | None = Field(default=None, examples=["/api/v1/projects/QI-0001/fire"])


class ProblemError(Exception):
    """Raised by the HTTP layer to answer with a problem (never a qiflow domain error)."""

    def __init__(
        self,
        name: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = TYPES[name]
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    name: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    kind = TYPES[name]
    body = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extensions,
    }
    return JSONResponse(body, status_code=kind.status, headers=headers, media_type=MEDIA_TYPE)


def problem_for(exc: QiflowError, *, if_match: bool) -> tuple[str, dict[str, Any]]:
    """The problem type name and extension members for one of qiflow's errors.

    ``if_match`` says whether the request carried If-Match: a stale one is 412, a
    concurrent change without one is 409.
    """
    if isinstance(exc, PluginError):
        return "plugin-failed", {"plugin": exc.plugin}
    if isinstance(exc, UnknownProject):
        return "unknown-project", {"project": exc.project}
    if isinstance(exc, InvalidTransition):
        return "invalid-transition", {
            "project": exc.ref,
            "state": exc.state,
            "trigger": exc.trigger,
            "allowed": list(exc.allowed),
        }
    if isinstance(exc, GuardFailed):
        return "guard-failed", {
            "project": exc.ref,
            "trigger": exc.trigger,
            "unmet": list(exc.reasons),
        }
    if isinstance(exc, ConcurrencyConflict):
        extra = {"project": exc.ref, "current_version": exc.actual}
        if if_match:
            return "precondition-failed", {**extra, "current_etag": etag(exc.actual)}
        return "concurrency-conflict", extra
    if isinstance(exc, PermissionDenied):
        return "permission-denied", {}
    if isinstance(exc, WorkflowDefinitionError):
        return "workflow-error", {"problems": [str(p) for p in exc.problems]}
    if isinstance(exc, ValidationError):
        return "validation-error", {}
    if isinstance(exc, DatabaseError):
        return "database-unavailable", {}
    return "validation-error", {}


def detail_of(exc: QiflowError) -> str:
    """What a client is told of one of qiflow's errors: its message, except for a plugin's
    failure, whose own message may hold personal data (only the plugin, hook and type)."""
    if isinstance(exc, PluginError):
        return (
            f"the plugin {exc.plugin!r} failed in {exc.hook} ({exc.error_type}); "
            "nothing was saved"
        )
    return exc.message


def etag(version: int) -> str:
    """A project's strong ETag: its version, quoted (``"7"``)."""
    return f'"{version}"'


def plugin_of(tb: TracebackType | None, plugin_modules: Mapping[str, str]) -> str | None:
    """The name of the plugin whose code raised, if the traceback passes through one."""
    for frame, _line in reversed(list(traceback.walk_tb(tb))):
        module = str(frame.f_globals.get("__name__", ""))
        for prefix, name in plugin_modules.items():
            if module == prefix or module.startswith(prefix + "."):
                return name
    return None


def _request_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "location": [str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "")),
        }
        for error in errors
    ]


def _methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (for 405's Allow)."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]


def install_handlers(app: FastAPI) -> None:
    """Make every error, including the framework's own, answer in problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.kind.name,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(QiflowError)
    async def _qiflow(request: Request, exc: QiflowError) -> JSONResponse:
        name, extra = problem_for(exc, if_match="if-match" in request.headers)
        return problem_response(name, detail_of(exc), instance=request.url.path, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _request_errors(exc.errors())
        first = errors[0] if errors else {"location": [], "message": "invalid request"}
        return problem_response(
            "invalid-request",
            f"{'.'.join(first['location'])}: {first['message']}",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = _BY_STATUS.get(exc.status_code, "invalid-request")
        extra: dict[str, Any] = {}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _methods(request)
            headers["Allow"] = ", ".join(allowed)
            extra["allowed"] = allowed
        detail = exc.detail if isinstance(exc.detail, str) else TYPES[name].title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"nothing at {request.url.path}; the API is under /api/v1 (see /docs)"
        return problem_response(name, detail, instance=request.url.path, headers=headers, **extra)


def responses(*names: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these problem types (grouped by status)."""
    by_status: dict[int, list[ProblemType]] = {}
    for name in names:
        kind = TYPES[name]
        by_status.setdefault(kind.status, []).append(kind)
    return {
        status: {
            "description": "; ".join(f"`{k.name}`: {k.description}" for k in kinds),
            "content": {
                MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "examples": {
                        k.name: {
                            "summary": k.title,
                            "value": {
                                "type": k.uri,
                                "title": k.title,
                                "status": k.status,
                                "detail": k.description,
                            },
                        }
                        for k in kinds
                    },
                }
            },
        }
        for status, kinds in sorted(by_status.items())
    }


def listed(names: Iterable[str]) -> list[ProblemType]:
    return [TYPES[name] for name in names]
