"""Workflows, the audit check, and the event feed."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from qiflow import Engine, WorkflowDefinitionError
from qiflow.http.access import Reader
from qiflow.http.problems import ProblemError, responses
from qiflow.http.routes.common import engine_of
from qiflow.http.routes.projects import READ
from qiflow.http.schemas import (
    AuditBreakOut,
    AuditOut,
    EventFeed,
    EventOut,
    StateOut,
    TransitionOut,
    WorkflowOut,
    WorkflowSummary,
)
from qiflow.workflow import Workflow
from qiflow.workflow.render import to_mermaid

router = APIRouter()

#: The longest a long poll waits, and how often it looks for new events meanwhile.
MAX_WAIT = 60.0
POLL_INTERVAL = 0.25

Name = Annotated[str, Path(max_length=100, examples=["qi_project"])]
Version = Annotated[
    int | None, Query(ge=1, le=1_000_000, description="Default: the latest version.")
]


def _workflow(engine: Engine, name: str, version: int | None) -> Workflow:
    try:
        return engine.workflow(name, version)
    except WorkflowDefinitionError as exc:
        raise ProblemError("not-found", exc.message) from None


@router.get(
    "/workflows",
    operation_id="list_workflows",
    tags=["workflows"],
    response_model=list[WorkflowSummary],
    summary="Every loaded workflow version",
    responses=responses(*READ),
)
def list_workflows(request: Request, caller: Reader) -> list[WorkflowSummary]:
    engine = engine_of(request)
    versions = engine.registry.all()
    latest = {w.name: w.version for w in versions}
    return [
        WorkflowSummary(
            name=w.name, version=w.version, title=w.title, latest=latest[w.name] == w.version
        )
        for w in versions
    ]


@router.get(
    "/workflows/{name}",
    operation_id="show_workflow",
    tags=["workflows"],
    response_model=WorkflowOut,
    summary="A workflow's states and transitions",
    responses=responses(*READ, "not-found"),
)
def show_workflow(
    request: Request, name: Name, caller: Reader, version: Version = None
) -> WorkflowOut:
    w = _workflow(engine_of(request), name, version)
    return WorkflowOut(
        name=w.name,
        version=w.version,
        title=w.title,
        roles=list(w.roles),
        states=[
            StateOut(
                name=s.name,
                initial=s.initial,
                final=s.final,
                review=str(s.review) if s.review else None,
                description=s.description,
            )
            for s in w.states
        ],
        transitions=[
            TransitionOut(
                trigger=t.trigger,
                sources=list(t.sources),
                dest=t.dest,
                roles=list(t.roles),
                requires=list(t.requires),
                gates=list(t.gates),
                effects=list(t.effects),
                on=t.on,
                description=t.description,
            )
            for t in w.transitions
        ],
    )


@router.get(
    "/workflows/{name}/mermaid",
    operation_id="workflow_mermaid",
    tags=["workflows"],
    response_class=PlainTextResponse,
    summary="A workflow as a Mermaid state diagram",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **responses(*READ, "not-found"),
    },
)
def workflow_mermaid(
    request: Request, name: Name, caller: Reader, version: Version = None
) -> PlainTextResponse:
    return PlainTextResponse(to_mermaid(_workflow(engine_of(request), name, version)))


@router.get(
    "/audit",
    operation_id="verify_audit",
    tags=["audit"],
    response_model=AuditOut,
    summary="Verify every project's hash chain and that its events replay to its row",
    responses=responses(*READ),
)
def verify_audit(request: Request, caller: Reader) -> AuditOut:
    breaks = engine_of(request).verify_audit()
    return AuditOut(verified=not breaks, breaks=[AuditBreakOut.model_validate(b) for b in breaks])


@router.get(
    "/events",
    operation_id="events",
    tags=["events"],
    response_model=EventFeed,
    summary="The event feed: events after a sequence number, waiting for them (long poll)",
    description="Returns the committed events with `seq` greater than `after`, oldest "
    "first, without gaps: an event that commits late is never skipped. If there are none "
    "yet, waits up to `wait` seconds for one. Pass `next_after` back as `after`.",
    responses=responses(*READ),
)
async def events(
    request: Request,
    caller: Reader,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last seq you have seen.")] = 0,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="Seconds to wait for an event (max 60).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventFeed:
    engine = engine_of(request)
    deadline = time.monotonic() + wait
    while True:
        found = await run_in_threadpool(engine.events_after, after, limit=limit)
        if found or time.monotonic() >= deadline or await request.is_disconnected():
            break
        await asyncio.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    return EventFeed(
        events=[EventOut.model_validate(e) for e in found],
        next_after=found[-1].seq if found else after,
    )
