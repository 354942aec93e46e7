"""How a changing request runs: idempotency key, then If-Match, then the engine.

The order is the one the API promises. A request with an ``Idempotency-Key``
(the IETF httpapi draft) is first looked up among the caller's earlier requests:
a repeat gets the first response back (even if the project has moved on since,
so before If-Match is compared), the same key with a different payload is 422,
and one still in flight is 409. Otherwise If-Match is checked (RFC 9110: a strong
ETag, the project's version; 428 when a required one is missing, 412 when stale)
and the command runs. Its response, success or refusal, is stored for repeats;
precondition failures and server errors are not, so the client may retry them
with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from qiflow import Engine, QiflowError, idempotency
from qiflow.http.access import Caller
from qiflow.http.problems import (
    MEDIA_TYPE,
    ProblemError,
    detail_of,
    etag,
    problem_for,
    problem_response,
)

#: How long a key is remembered (published in the OpenAPI document and the README).
KEY_EXPIRY = idempotency.DEFAULT_EXPIRY
#: How long a request may hold its key before a repeat may take over (a crashed process).
KEY_LEASE = timedelta(seconds=60)
_NOT_STORED = frozenset({412, 428})
_STRONG_TAG = re.compile(r'^"(\d{1,18})"$')
_REPLAY_HEADERS = ("etag", "location")

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1000,
        description='The project\'s ETag (e.g. `"7"`), as read: a stale one is refused '
        "with 412 (RFC 9110).",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="A unique key per request (a bare or quoted string): a repeat returns "
        "the first response; keys are scoped to the token and expire after 24 hours.",
    ),
]


@dataclass
class Outcome:
    """What a command answers with when it succeeds."""

    body: BaseModel | list[Any] | dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def parse_key(raw: str | None) -> str | None:
    """The key from the header: a bare token or a structured-field string (``"abc"``)."""
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not value:
        raise ProblemError("invalid-request", "Idempotency-Key must not be empty")
    return value


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A request's identity under its key: method, path and the parsed body."""
    return idempotency.fingerprint({"method": method, "path": path, "body": payload})


def expected_version(
    engine: Engine, project: str | None, if_match: str | None, *, required: bool
) -> int | None:
    """The version If-Match asks for (None: any), or 428/412."""
    if if_match is None or not if_match.strip():
        if required:
            raise ProblemError(
                "precondition-required",
                "this request changes a project: send If-Match with the ETag you read "
                '(e.g. If-Match: "3")',
            )
        return None
    value = if_match.strip()
    if value == "*" or project is None:
        return None
    versions = [
        int(m.group(1)) for tag in value.split(",") if (m := _STRONG_TAG.match(tag.strip()))
    ]
    if len(versions) == 1:
        return versions[0]
    current = engine.get(project).version
    if current in versions:
        return current
    raise ProblemError(
        "precondition-failed",
        f"If-Match {value} does not match the project's ETag {etag(current)}",
        current_etag=etag(current),
        current_version=current,
    )


def _json(body: Any) -> str:
    if isinstance(body, BaseModel):
        return body.model_dump_json()
    if isinstance(body, list):
        return json.dumps(
            [b.model_dump(mode="json") if isinstance(b, BaseModel) else b for b in body]
        )
    return json.dumps(body)


def _response(status: int, headers: Mapping[str, str], body: str, media: str) -> Response:
    return Response(content=body, status_code=status, headers=dict(headers), media_type=media)


def run(
    request: Request,
    caller: Caller,
    *,
    payload: BaseModel | None,
    idempotency_key: str | None,
    execute: Callable[[str | None], Outcome],
) -> Response:
    """Run a command for ``caller`` with the API's idempotency rules.

    ``execute`` gets the key to hand to the engine (None without a key) and returns
    the outcome; qiflow's errors become problem responses (stored like successes).
    """
    engine: Engine = request.app.state.engine
    key = parse_key(idempotency_key)
    if key is None:
        return _answer(request, execute(None))
    body = payload.model_dump(mode="json", exclude_unset=True) if payload is not None else None
    claim = engine.claim_request(
        caller.token_id,
        key,
        fingerprint(request.method, request.url.path, body),
        lease=KEY_LEASE,
        expiry=KEY_EXPIRY,
    )
    if claim.outcome == "replay" and claim.response is not None:
        stored = claim.response
        return _response(stored.status, stored.headers, stored.body, stored.media_type)
    if claim.outcome == "mismatch":
        raise ProblemError(
            "idempotency-key-reused",
            "this Idempotency-Key was already used with a different request; use a new key "
            "for each distinct request",
        )
    if claim.outcome == "in_flight":
        raise ProblemError(
            "idempotency-key-in-flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )
    engine_key = (
        "http:"
        + hashlib.sha256(
            f"{caller.token_id}\n{key}\n{claim.started_at.isoformat()}".encode()
        ).hexdigest()
    )
    try:
        try:
            response = _answer(request, execute(engine_key))
            media = "application/json"
        except QiflowError as exc:
            name, extra = problem_for(exc, if_match="if-match" in request.headers)
            response = problem_response(name, detail_of(exc), instance=request.url.path, **extra)
            media = MEDIA_TYPE
        except ProblemError as exc:
            if exc.kind.status in _NOT_STORED:
                raise
            response = problem_response(
                exc.kind.name,
                exc.detail,
                instance=request.url.path,
                headers=exc.headers,
                **exc.extensions,
            )
            media = MEDIA_TYPE
    except BaseException:
        engine.release_request(caller.token_id, key)
        raise
    if response.status_code in _NOT_STORED or response.status_code >= 500:
        engine.release_request(caller.token_id, key)
    else:
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() in _REPLAY_HEADERS
        }
        engine.finish_request(
            caller.token_id,
            key,
            status=response.status_code,
            headers=headers,
            body=bytes(response.body).decode(),
            media_type=media,
        )
    return response


def _answer(request: Request, outcome: Outcome) -> Response:
    return _response(outcome.status, outcome.headers, _json(outcome.body), "application/json")
