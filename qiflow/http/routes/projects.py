"""Projects: create, list, show, update, fire, history, migrate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from qiflow.http import commands
from qiflow.http.access import Reader, Writer
from qiflow.http.commands import IdempotencyKey, IfMatch
from qiflow.http.pagination import Cursor, Limit, decode, link_next, page
from qiflow.http.problems import etag, responses
from qiflow.http.routes.common import (
    ETAG_HEADER,
    LINK_HEADER,
    LOCATION_HEADER,
    acting,
    engine_of,
    on_project,
    project_outcome,
    project_url,
)
from qiflow.http.schemas import (
    EventOut,
    FireIn,
    MigrateIn,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    ProjectView,
    TriggerOut,
)

router = APIRouter(tags=["projects"])

Ref = Annotated[
    str,
    Path(max_length=64, description="A project reference (QI-0001) or id.", examples=["QI-0001"]),
]
AUTH = ("unauthorized", "insufficient-scope", "act-as-not-granted", "too-many-requests")
READ = (*AUTH, "invalid-request", "database-unavailable")
ON_PROJECT = (*READ, "unknown-project")
COMMAND = (
    *ON_PROJECT,
    "permission-denied",
    "validation-error",
    "concurrency-conflict",
    "idempotency-key-in-flight",
    "idempotency-key-reused",
    "precondition-failed",
    "plugin-failed",
)
CHANGE = (*COMMAND, "precondition-required", "invalid-transition", "guard-failed")


@router.post(
    "/projects",
    operation_id="create_project",
    status_code=201,
    response_model=ProjectOut,
    summary="Create a project",
    responses={
        201: {
            "description": "Created, in its workflow's initial state.",
            "headers": {**ETAG_HEADER, **LOCATION_HEADER},
            "links": {
                "fire": {
                    "operationId": "fire",
                    "parameters": {
                        "ref": "$response.body#/ref",
                        "header.If-Match": "$response.header.ETag",
                    },
                    "description": "Fire a trigger on the new project.",
                },
                "history": {
                    "operationId": "project_history",
                    "parameters": {"ref": "$response.body#/ref"},
                },
                "show": {
                    "operationId": "show_project",
                    "parameters": {"ref": "$response.body#/ref"},
                },
            },
        },
        **responses(*COMMAND, "workflow-error", "guard-failed"),
    },
)
def create_project(
    request: Request, body: ProjectCreate, caller: Writer, idempotency_key: IdempotencyKey = None
) -> Response:
    engine = engine_of(request)

    def execute(key: str | None) -> commands.Outcome:
        fields = body.given()
        for key_name in ("title", "workflow", "fields"):
            fields.pop(key_name, None)
        with acting(engine, caller):
            project = engine.create_project(
                body.title,
                actor=caller.actor,
                workflow=body.workflow,
                idempotency_key=key,
                fields=body.fields,
                **fields,
            )
        return project_outcome(project, status=201, location=project_url(project.ref))

    return commands.run(
        request, caller, payload=body, idempotency_key=idempotency_key, execute=execute
    )


@router.get(
    "/projects",
    operation_id="list_projects",
    response_model=list[ProjectOut],
    summary="List projects, filtered, in reference order",
    responses={200: {"headers": LINK_HEADER}, **responses(*READ)},
)
def list_projects(
    request: Request,
    response: Response,
    caller: Reader,
    state: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    directorate: Annotated[str | None, Query(max_length=200)] = None,
    workflow: Annotated[str | None, Query(max_length=100)] = None,
    programme: Annotated[
        str | None, Query(max_length=20, description="none, candidate or programme")
    ] = None,
    overdue: Annotated[bool, Query(description="Only projects whose review is overdue.")] = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[ProjectOut]:
    start = decode(cursor)
    found = engine_of(request).projects(
        state=state,
        owner=owner,
        directorate=directorate,
        workflow=workflow,
        programme=programme,
        overdue=overdue,
        limit=limit + 1,
        offset=start,
    )
    if len(found) > limit:
        link_next(request, response, start + limit, limit)
    return [ProjectOut.model_validate(p) for p in found[:limit]]


@router.get(
    "/projects/{ref}",
    operation_id="show_project",
    response_model=ProjectView,
    summary="Show a project with what may fire from its state, and why not",
    responses={200: {"headers": ETAG_HEADER}, **responses(*ON_PROJECT)},
)
def show_project(request: Request, response: Response, ref: Ref, caller: Reader) -> ProjectView:
    engine = engine_of(request)
    project = engine.get(ref)
    options = engine.available_triggers(project.id, actor=caller.actor)
    response.headers["ETag"] = etag(project.version)
    return ProjectView.model_validate(
        {
            **ProjectOut.model_validate(project).model_dump(),
            "triggers": [TriggerOut.model_validate(o) for o in options],
        }
    )


@router.patch(
    "/projects/{ref}",
    operation_id="update_project",
    response_model=ProjectOut,
    summary="Change a project's fields (If-Match required)",
    responses={200: {"headers": ETAG_HEADER}, **responses(*CHANGE)},
)
def update_project(
    request: Request,
    ref: Ref,
    body: ProjectUpdate,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.update_project(
            ref, actor=caller.actor, expected_version=expected, idempotency_key=key, **body.given()
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        if_match_required=True,
    )


@router.post(
    "/projects/{ref}/fire",
    operation_id="fire",
    response_model=ProjectOut,
    summary="Fire a trigger (If-Match required)",
    responses={
        200: {
            "headers": ETAG_HEADER,
            "links": {
                "history": {
                    "operationId": "project_history",
                    "parameters": {"ref": "$response.body#/ref"},
                },
            },
        },
        **responses(*CHANGE),
    },
)
def fire(
    request: Request,
    ref: Ref,
    body: FireIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.fire(
            ref,
            body.trigger,
            actor=caller.actor,
            expected_version=expected,
            data=body.data,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        if_match_required=True,
    )


@router.get(
    "/projects/{ref}/triggers",
    operation_id="available_triggers",
    response_model=list[TriggerOut],
    summary="Each trigger from the project's state: may it fire, and every reason if not",
    responses=responses(*ON_PROJECT),
)
def available_triggers(request: Request, ref: Ref, caller: Reader) -> list[TriggerOut]:
    options = engine_of(request).available_triggers(ref, actor=caller.actor)
    return [TriggerOut.model_validate(o) for o in options]


@router.get(
    "/projects/{ref}/history",
    operation_id="project_history",
    response_model=list[EventOut],
    summary="The project's events (its audit trail), oldest first",
    responses={200: {"headers": LINK_HEADER}, **responses(*ON_PROJECT)},
)
def project_history(
    request: Request,
    response: Response,
    ref: Ref,
    caller: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[EventOut]:
    events = engine_of(request).history(ref)
    return [EventOut.model_validate(e) for e in page(request, response, events, cursor, limit)]


@router.post(
    "/projects/{ref}/migrate",
    operation_id="migrate_project",
    response_model=ProjectOut,
    summary="Move the project to another version of its workflow",
    responses={200: {"headers": ETAG_HEADER}, **responses(*COMMAND, "workflow-error")},
)
def migrate_project(
    request: Request,
    ref: Ref,
    body: MigrateIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, _key: engine.migrate_project(
            ref, body.to_version, actor=caller.actor, expected_version=expected
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
