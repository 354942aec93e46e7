"""Governance: sign-offs, gates, escalation to programme status, and the people directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from qiflow import Person, ValidationError
from qiflow.http import commands
from qiflow.http.access import Admin, Reader, Writer
from qiflow.http.commands import IdempotencyKey, IfMatch
from qiflow.http.pagination import Cursor, Limit, page
from qiflow.http.problems import ProblemError, responses
from qiflow.http.routes.common import ETAG_HEADER, LINK_HEADER, acting, engine_of, on_project
from qiflow.http.routes.projects import AUTH, CHANGE, COMMAND, ON_PROJECT, READ, Ref
from qiflow.http.schemas import (
    DecisionIn,
    DeescalateIn,
    GateStatusOut,
    PeopleImportIn,
    PeopleImportOut,
    PersonOut,
    ProjectOut,
    SignoffOut,
    SignoffRequestIn,
)

router = APIRouter(tags=["governance"])
people_router = APIRouter(tags=["people"])

Gate = Annotated[str, Path(max_length=100, description="A gate's name.", examples=["qeia"])]
SIGNED = {200: {"headers": ETAG_HEADER}, **responses(*COMMAND)}


@router.get(
    "/projects/{ref}/signoffs",
    operation_id="list_signoffs",
    response_model=list[SignoffOut],
    summary="Every sign-off round of the project (of one gate, if given), oldest first",
    responses={200: {"headers": LINK_HEADER}, **responses(*ON_PROJECT)},
)
def list_signoffs(
    request: Request,
    response: Response,
    ref: Ref,
    caller: Reader,
    gate: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[SignoffOut]:
    rounds = engine_of(request).signoffs(ref, gate)
    return [SignoffOut.model_validate(s) for s in page(request, response, rounds, cursor, limit)]


@router.get(
    "/projects/{ref}/gates",
    operation_id="gate_status",
    response_model=list[GateStatusOut],
    summary="Each gate of the project's workflow: passed, or what it awaits",
    responses=responses(*ON_PROJECT),
)
def gate_status(request: Request, ref: Ref, caller: Reader) -> list[GateStatusOut]:
    status = engine_of(request).gate_status(ref)
    return [
        GateStatusOut(gate=gate, passed=not awaiting, awaiting=awaiting)
        for gate, awaiting in status.items()
    ]


@router.post(
    "/projects/{ref}/signoffs/{gate}",
    operation_id="request_signoff",
    response_model=ProjectOut,
    summary="Request a sign-off: submit the gate's form (a new round)",
    responses=SIGNED,
)
def request_signoff(
    request: Request,
    ref: Ref,
    gate: Gate,
    body: SignoffRequestIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.request_signoff(
            ref,
            gate,
            body.form,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/projects/{ref}/signoffs/{gate}/decisions",
    operation_id="decide_signoff",
    response_model=ProjectOut,
    summary="Approve or reject the pending sign-off (separation of duties applies)",
    responses=SIGNED,
)
def decide_signoff(
    request: Request,
    ref: Ref,
    gate: Gate,
    body: DecisionIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.decide_signoff(
            ref,
            gate,
            actor=caller.actor,
            approve=body.approve,
            role=body.role,
            on_behalf_of=body.on_behalf_of,
            comment=body.comment,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/signoffs/expire",
    operation_id="expire_signoffs",
    response_model=list[ProjectOut],
    summary="Mark every approval that has run out as expired",
    responses=responses(
        *AUTH,
        "database-unavailable",
        "idempotency-key-in-flight",
        "idempotency-key-reused",
        "plugin-failed",
    ),
)
def expire_signoffs(
    request: Request, caller: Writer, idempotency_key: IdempotencyKey = None
) -> Response:
    engine = engine_of(request)

    def execute(_key: str | None) -> commands.Outcome:
        with acting(engine, caller):
            expired = engine.expire_signoffs(actor=caller.actor)
        return commands.Outcome([ProjectOut.model_validate(p) for p in expired])

    return commands.run(
        request, caller, payload=None, idempotency_key=idempotency_key, execute=execute
    )


@router.post(
    "/projects/{ref}/escalation",
    operation_id="escalate",
    response_model=ProjectOut,
    summary="Nominate the project for programme status (transformation team)",
    responses={200: {"headers": ETAG_HEADER}, **responses(*CHANGE)},
)
def escalate(
    request: Request, ref: Ref, caller: Writer, idempotency_key: IdempotencyKey = None
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, _expected, _key: engine.escalate(ref, actor=caller.actor),
        payload=None,
        if_match=None,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/projects/{ref}/deescalation",
    operation_id="deescalate",
    response_model=ProjectOut,
    summary="Remove candidate or programme status, with a reason (transformation team)",
    responses={200: {"headers": ETAG_HEADER}, **responses(*COMMAND)},
)
def deescalate(
    request: Request,
    ref: Ref,
    body: DeescalateIn,
    caller: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, _expected, _key: engine.deescalate(
            ref, actor=caller.actor, reason=body.reason
        ),
        payload=body,
        if_match=None,
        idempotency_key=idempotency_key,
    )


@people_router.get(
    "/people",
    operation_id="list_people",
    response_model=list[PersonOut],
    summary="The built-in staff directory (admin)",
    responses={200: {"headers": LINK_HEADER}, **responses(*READ)},
)
def list_people(
    request: Request,
    response: Response,
    caller: Admin,
    role: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[PersonOut]:
    people = engine_of(request).people(role=role)
    return [PersonOut.model_validate(p) for p in page(request, response, people, cursor, limit)]


@people_router.get(
    "/people/{person_id}",
    operation_id="show_person",
    response_model=PersonOut,
    summary="One person, from the directory in use (admin)",
    responses=responses(*READ, "not-found"),
)
def show_person(
    request: Request,
    person_id: Annotated[str, Path(max_length=200)],
    caller: Admin,
) -> PersonOut:
    person = engine_of(request).person(person_id)
    if person is None:
        raise ProblemError("not-found", "no person with that id in the directory")
    return PersonOut.model_validate(person)


@people_router.post(
    "/people",
    operation_id="import_people",
    response_model=PeopleImportOut,
    summary="Load people into the built-in directory, all or nothing (admin)",
    responses=responses(
        *READ, "validation-error", "idempotency-key-in-flight", "idempotency-key-reused"
    ),
)
def import_people(
    request: Request, body: PeopleImportIn, caller: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    engine = engine_of(request)

    def execute(_key: str | None) -> commands.Outcome:
        known = set(engine.known_roles())
        unknown = sorted({r for p in body.people for r in p.roles if r not in known})
        if unknown:
            raise ValidationError(
                f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        people = [
            Person(
                id=p.id,
                name=p.name,
                email=p.email,
                directorate=p.directorate,
                roles=tuple(p.roles),
                deputy_for=tuple(p.deputy_for),
                channels=tuple(p.channels),
                active=p.active,
            )
            for p in body.people
        ]
        added, updated, deactivated = engine.import_people(
            people, actor=caller.actor, replace=body.replace
        )
        return commands.Outcome(
            PeopleImportOut(added=added, updated=updated, deactivated=deactivated)
        )

    return commands.run(
        request, caller, payload=body, idempotency_key=idempotency_key, execute=execute
    )


@people_router.get(
    "/roles",
    operation_id="list_roles",
    response_model=list[str],
    summary="Every role name that plugins declare",
    responses=responses(*READ),
)
def list_roles(request: Request, caller: Reader) -> list[str]:
    return engine_of(request).known_roles()
