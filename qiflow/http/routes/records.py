"""What a project records: PDSA cycles, measures and their data points, reviews.

These are appends: If-Match is optional and checked when given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from qiflow import Engine, Measure, Project
from qiflow.http import commands
from qiflow.http.access import Reader, Writer
from qiflow.http.commands import IdempotencyKey, IfMatch
from qiflow.http.pagination import Cursor, Limit, page
from qiflow.http.problems import ProblemError, responses
from qiflow.http.routes.common import (
    ETAG_HEADER,
    LINK_HEADER,
    LOCATION_HEADER,
    engine_of,
    on_project,
    project_outcome,
    project_url,
)
from qiflow.http.routes.projects import COMMAND, ON_PROJECT, Ref
from qiflow.http.schemas import (
    DataPointIn,
    DataPointOut,
    MeasureIn,
    MeasureOut,
    PdsaCycleOut,
    PdsaIn,
    ProjectOut,
    ReviewIn,
)

router = APIRouter(tags=["records"])

MeasureId = Annotated[int, Path(ge=1, le=2**62, description="The measure's id.")]
APPEND = {200: {"headers": ETAG_HEADER}, **responses(*COMMAND)}


def _measure(engine: Engine, ref: str, measure_id: int) -> Measure:
    for measure in engine.measures(ref):
        if measure.id == measure_id:
            return measure
    raise ProblemError("not-found", f"{ref} has no measure with id {measure_id}")


@router.get(
    "/projects/{ref}/cycles",
    operation_id="list_cycles",
    response_model=list[PdsaCycleOut],
    summary="The project's PDSA cycles",
    responses={200: {"headers": LINK_HEADER}, **responses(*ON_PROJECT)},
)
def list_cycles(
    request: Request,
    response: Response,
    ref: Ref,
    caller: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[PdsaCycleOut]:
    cycles = engine_of(request).cycles(ref)
    return [PdsaCycleOut.model_validate(c) for c in page(request, response, cycles, cursor, limit)]


@router.post(
    "/projects/{ref}/cycles",
    operation_id="record_pdsa",
    response_model=ProjectOut,
    summary="Record a PDSA plan (with its prediction), a Do observation, or a study",
    responses=APPEND,
)
def record_pdsa(
    request: Request,
    ref: Ref,
    body: PdsaIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.record_pdsa(
            ref,
            actor=caller.actor,
            cycle=body.cycle,
            plan=body.plan,
            prediction=body.prediction,
            observation=body.observation,
            study=body.study,
            tests=body.tests,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


@router.get(
    "/projects/{ref}/measures",
    operation_id="list_measures",
    response_model=list[MeasureOut],
    summary="The project's outcome, process and balancing measures",
    responses={200: {"headers": LINK_HEADER}, **responses(*ON_PROJECT)},
)
def list_measures(
    request: Request,
    response: Response,
    ref: Ref,
    caller: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[MeasureOut]:
    measures = engine_of(request).measures(ref)
    return [MeasureOut.model_validate(m) for m in page(request, response, measures, cursor, limit)]


@router.post(
    "/projects/{ref}/measures",
    operation_id="add_measure",
    status_code=201,
    response_model=ProjectOut,
    summary="Add a measure (the body is the project; Location is the measure)",
    responses={
        201: {"description": "Added.", "headers": {**ETAG_HEADER, **LOCATION_HEADER}},
        **responses(*COMMAND),
    },
)
def add_measure(
    request: Request,
    ref: Ref,
    body: MeasureIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def created(engine: Engine, project: Project) -> commands.Outcome:
        name = body.name.strip()
        measure = next(m for m in engine.measures(project.id) if m.name == name)
        location = f"{project_url(project.ref)}/measures/{measure.id}"
        return project_outcome(project, status=201, location=location)

    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.add_measure(
            ref,
            body.name,
            kind=body.kind,
            unit=body.unit,
            direction=body.direction,
            actor=caller.actor,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
        answer=created,
    )


@router.get(
    "/projects/{ref}/measures/{measure_id}",
    operation_id="show_measure",
    response_model=MeasureOut,
    summary="One measure",
    responses=responses(*ON_PROJECT, "not-found"),
)
def show_measure(request: Request, ref: Ref, measure_id: MeasureId, caller: Reader) -> MeasureOut:
    return MeasureOut.model_validate(_measure(engine_of(request), ref, measure_id))


@router.get(
    "/projects/{ref}/measures/{measure_id}/data-points",
    operation_id="list_data_points",
    response_model=list[DataPointOut],
    summary="A measure's data points, oldest first",
    responses={200: {"headers": LINK_HEADER}, **responses(*ON_PROJECT, "not-found")},
)
def list_data_points(
    request: Request,
    response: Response,
    ref: Ref,
    measure_id: MeasureId,
    caller: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[DataPointOut]:
    engine = engine_of(request)
    points = engine.data_points(ref, _measure(engine, ref, measure_id).name)
    return [DataPointOut.model_validate(p) for p in page(request, response, points, cursor, limit)]


@router.post(
    "/projects/{ref}/measures/{measure_id}/data-points",
    operation_id="record_data_point",
    response_model=ProjectOut,
    summary="Record one observation of a measure (no patient-identifiable data)",
    responses={**APPEND, **responses(*COMMAND, "not-found")},
)
def record_data_point(
    request: Request,
    ref: Ref,
    measure_id: MeasureId,
    body: DataPointIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.record_data_point(
            ref,
            _measure(engine, ref, measure_id).name,
            body.value,
            actor=caller.actor,
            observed_at=body.observed_at,
            note=body.note,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/projects/{ref}/reviews",
    operation_id="record_review",
    response_model=ProjectOut,
    summary="Record a review; the next is due after the state's review cadence",
    responses=APPEND,
)
def record_review(
    request: Request,
    ref: Ref,
    body: ReviewIn,
    caller: Writer,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return on_project(
        request,
        caller,
        ref,
        lambda engine, expected, key: engine.record_review(
            ref,
            actor=caller.actor,
            notes=body.notes,
            progress_score=body.progress_score,
            expected_version=expected,
            idempotency_key=key,
        ),
        payload=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
