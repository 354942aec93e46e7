"""The project charter: driver diagram (aim, drivers, change ideas) and team.

Edits are appends: If-Match is optional and checked when given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from qiflow import Engine, ValidationError
from qiflow.http.access import Reader, Writer
from qiflow.http.commands import IdempotencyKey, IfMatch, Outcome
from qiflow.http.problems import ProblemError, etag, responses
from qiflow.http.routes.common import (
    ETAG_HEADER,
    LOCATION_HEADER,
    engine_of,
    on_project,
    project_url,
)
from qiflow.http.routes.projects import COMMAND, ON_PROJECT, Ref
from qiflow.http.schemas import (
    CharterOut,
    DiagramChangeOut,
    DriverChangeIn,
    DriverDiagramOut,
    DriverIn,
    DriverNodeOut,
    IdeaHistoryOut,
    OutlineIn,
    ProjectOut,
    TeamMemberIn,
    TeamMemberOut,
)

router = APIRouter(tags=["charter"])

Node = Annotated[str, Path(max_length=16, description="A node's id (P1, S2, C3).")]
CHANGED = {200: {"headers": ETAG_HEADER}, **responses(*COMMAND)}


def changed(engine: Engine, change: object, status: int = 200) -> Outcome:
    """A diagram edit's answer: the change, with the project's new ETag."""
    body = DiagramChangeOut.model_validate(change)
    return Outcome(body, status, {"ETag": etag(body.project.version)})


@router.get(
    "/projects/{ref}/charter",
    operation_id="show_charter",
    response_model=CharterOut,
    summary="The project with its measures, team and driver diagram, read together",
    responses=responses(*ON_PROJECT),
)
def show_charter(request: Request, ref: Ref, caller: Reader) -> CharterOut:
    return CharterOut.model_validate(engine_of(request).charter(ref))


@router.get(
    "/projects/{ref}/drivers",
    operation_id="driver_diagram",
    response_model=DriverDiagramOut,
    summary="The project's driver diagram",
    responses=responses(*ON_PROJECT),
)
def driver_diagram(request: Request, ref: Ref, caller: Reader) -> DriverDiagramOut:
    return DriverDiagramOut.model_validate(engine_of(request).driver_diagram(ref))


@router.get(
    "/projects/{ref}/drivers/{node}",
    operation_id="show_driver",
    response_model=DriverNodeOut,
    summary="One node of the driver diagram",
    responses=responses(*ON_PROJECT, "not-found"),
)
def show_driver(request: Request, ref: Ref, node: Node, caller: Reader) -> DriverNodeOut:
    for found in engine_of(request).driver_diagram(ref).nodes:
        if found.id == node:
            return DriverNodeOut.model_validate(found)
    raise ProblemError("not-found", f"{ref} has no driver diagram node {node!r}")


@router.get(
    "/projects/{ref}/drivers/{node}/history",
    operation_id="idea_history",
    response_model=IdeaHistoryOut,
    summary="A change idea (even a removed one), the cycles that tested it, its events",
    responses=responses(*ON_PROJECT, "validation-error"),
)
def idea_history(request: Request, ref: Ref, node: Node, caller: Reader) -> IdeaHistoryOut:
    return IdeaHistoryOut.model_validate(engine_of(request).idea_history(ref, node))


@router.post(
    "/projects/{ref}/drivers",
    operation_id="add_driver",
    status_code=201,
    response_model=DiagramChangeOut,
    summary="Add a primary or secondary driver or a change idea",
    responses={
        201: {"description": "Added.", "headers": {**ETAG_HEADER, **LOCATION_HEADER}},
        **responses(*COMMAND),
    },
)
def add_driver(
    request: Request,
    ref: Ref,
    body: DriverIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def added(engine: Engine, change: object) -> Outcome:
        outcome = changed(engine, change, 201)
        assert isinstance(outcome.body, DiagramChangeOut)
        project = outcome.body.project
        outcome.headers["Location"] = f"{project_url(project.ref)}/drivers/{outcome.body.nodes[0]}"
        return outcome

    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.add_driver(
            ref,
            body.title,
            kind=body.kind,
            under=body.under,
            measures=body.measures,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        answer=added,
    )


@router.patch(
    "/projects/{ref}/drivers/{node}",
    operation_id="change_driver",
    response_model=DiagramChangeOut,
    summary="Rename a node (title) or put it under other drivers (under)",
    responses=CHANGED,
)
def change_driver(
    request: Request,
    ref: Ref,
    node: Node,
    body: DriverChangeIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def command(engine: Engine, expected: int | None, key: str | None) -> object:
        if (body.title is None) == (body.under is None):
            raise ValidationError("give exactly one of title (to rename) or under (to move)")
        if body.title is not None:
            return engine.rename_driver(
                ref,
                node,
                body.title,
                actor=caller.actor,
                expected_version=expected,
                idempotency_key=key,
            )
        return engine.move_driver(
            ref,
            node,
            under=body.under or [],
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        )

    return on_project(
        request,
        caller,
        ref,
        command,
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        answer=changed,
    )


@router.delete(
    "/projects/{ref}/drivers/{node}",
    operation_id="remove_driver",
    response_model=DiagramChangeOut,
    summary="Remove a node nobody depends on only and not under test (its id is retired)",
    responses=CHANGED,
)
def remove_driver(
    request: Request,
    ref: Ref,
    node: Node,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.remove_driver(
            ref, node, actor=caller.actor, expected_version=expected, idempotency_key=key
        ),
        payload=None,
        if_match=if_match,
        idempotency_key=idempotency_key,
        answer=changed,
    )


@router.post(
    "/projects/{ref}/drivers/import",
    operation_id="import_drivers",
    response_model=DiagramChangeOut,
    summary="Add the nodes of a CSV or TOML outline, all or nothing",
    responses=CHANGED,
)
def import_drivers(
    request: Request,
    ref: Ref,
    body: OutlineIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.import_drivers(
            ref,
            body.outline,
            format=body.format,
            source=body.source,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        answer=changed,
    )


@router.get(
    "/projects/{ref}/team",
    operation_id="list_team",
    response_model=list[TeamMemberOut],
    summary="The project team: people and their team roles",
    responses=responses(*ON_PROJECT),
)
def list_team(request: Request, ref: Ref, caller: Reader) -> list[TeamMemberOut]:
    return [TeamMemberOut.model_validate(m) for m in engine_of(request).team(ref)]


@router.post(
    "/projects/{ref}/team",
    operation_id="add_team_member",
    response_model=ProjectOut,
    summary="Add a person (by id) to the team with a team role",
    responses=CHANGED,
)
def add_team_member(
    request: Request,
    ref: Ref,
    body: TeamMemberIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.add_team_member(
            ref,
            body.person,
            role=body.role,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


@router.delete(
    "/projects/{ref}/team/{person}",
    operation_id="remove_team_member",
    response_model=ProjectOut,
    summary="Take a person out of the team: one role, or every role they hold",
    responses=CHANGED,
)
def remove_team_member(
    request: Request,
    ref: Ref,
    person: Annotated[str, Path(max_length=200)],
    caller: Writer,
    role: Annotated[str | None, Query(max_length=40)] = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.remove_team_member(
            ref,
            person,
            role=role,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=None,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
