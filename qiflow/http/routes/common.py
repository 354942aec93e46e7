"""What every router shares: the engine, project outcomes and the documented headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from qiflow import Engine, Project
from qiflow.http.access import Caller
from qiflow.http.commands import Outcome, expected_version, run
from qiflow.http.problems import etag
from qiflow.http.schemas import ProjectOut

API = "/api/v1"

ETAG_HEADER = {
    "ETag": {
        "description": 'The project\'s version as a strong entity tag (`"7"`); send it '
        "back in If-Match.",
        "schema": {"type": "string"},
    }
}
LOCATION_HEADER = {
    "Location": {"description": "The URL of the created resource.", "schema": {"type": "string"}}
}
LINK_HEADER = {
    "Link": {
        "description": 'RFC 8288: `<url>; rel="next"` when there are more items.',
        "schema": {"type": "string"},
    }
}


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def project_url(ref: str) -> str:
    return f"{API}/projects/{ref}"


def project_outcome(project: Project, *, status: int = 200, location: str | None = None) -> Outcome:
    """A command's answer: the project, its ETag, and where it lives when created."""
    headers = {"ETag": etag(project.version)}
    if location is not None:
        headers["Location"] = location
    return Outcome(ProjectOut.model_validate(project), status, headers)


@contextmanager
def acting(engine: Engine, caller: Caller) -> Iterator[None]:
    """Run commands as the caller's person; a service acting for them is recorded too."""
    if caller.service is None:
        yield
        return
    with engine.acting_via(caller.service):
        yield


#: A command on one project: (engine, expected version, engine idempotency key) -> its
#: result (the project, or a value that holds it, which ``answer`` turns into the response).
ProjectCommand = Callable[[Engine, int | None, str | None], Any]


def on_project(
    request: Request,
    caller: Caller,
    ref: str,
    command: ProjectCommand,
    *,
    payload: BaseModel | None,
    if_match: str | None,
    idempotency_key: str | None,
    if_match_required: bool = False,
    answer: Callable[[Engine, Any], Outcome] | None = None,
) -> Response:
    """Run a command on project ``ref`` for the caller: idempotency, If-Match, the
    engine, and (unless ``answer`` says otherwise) the project with its ETag."""
    engine = engine_of(request)

    def execute(key: str | None) -> Outcome:
        expected = expected_version(engine, ref, if_match, required=if_match_required)
        with acting(engine, caller):
            result = command(engine, expected, key)
        if answer is not None:
            return answer(engine, result)
        assert isinstance(result, Project)
        return project_outcome(result)

    return run(request, caller, payload=payload, idempotency_key=idempotency_key, execute=execute)
