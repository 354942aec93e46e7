"""The forms that act: create a project, fire a step, record a PDSA step, a measure, a data
point, a review, request and decide a sign-off, declare no significant risks.

Every form carries the session's CSRF token: without it, or with a wrong one, the post is
refused with 403 and nothing changes. A read token may look but not act (403). The engine
then applies the same roles and separation of duties as the API and the command line; a
refusal comes back on the project page in the rule's own words. After a success the
browser is redirected to the page, which shows the new state (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from qiflow import Engine, GuardFailed, QiflowError, ValidationError
from qiflow.web.rendering import phrase, words
from qiflow.web.responses import engine_of, flash, refused_form, render, to_sign_in
from qiflow.web.session import CSRF_FIELD, csrf_ok, visitor

router = APIRouter()

#: The largest form body read (a QEIA screening with comments fits many times over).
MAX_FORM_BYTES = 64 * 1024

Form = Mapping[str, str]
#: An action: (engine, actor, form) -> (what was done, where to go next or None).
Action = Callable[[Engine, str, Form], "tuple[str, str | None]"]


async def read_form(request: Request) -> dict[str, str]:
    """The posted ``application/x-www-form-urlencoded`` fields (the last of each name)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _text(form: Form, name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _number(form: Form, name: str, label: str) -> float | None:
    value = _text(form, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValidationError(f"{label} must be a number, not {value!r}") from None


def _whole(form: Form, name: str, label: str) -> int | None:
    value = _number(form, name, label)
    if value is not None and not value.is_integer():
        raise ValidationError(f"{label} must be a whole number, not {value:g}")
    return None if value is None else int(value)


def _version(form: Form) -> int | None:
    return _whole(form, "version", "the page's version")


async def act(request: Request, ref: str | None, action: Action) -> Response:
    who = visitor(request)
    if who is None:
        return to_sign_in(request)
    try:
        form = await read_form(request)
    except ValidationError as exc:
        return render(
            request, "refused.html", title="Form too large", who=who, status=413, reason=str(exc)
        )
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return refused_form(request)
    if not who.may("write"):
        return render(
            request,
            "refused.html",
            title="You may look but not act",
            who=who,
            status=403,
            reason=f"You signed in with a token of scope {who.scope!r}, which may read but "
            "not change anything. Nothing was changed. Sign in with a write token to act.",
        )
    back = f"/projects/{ref}" if ref else "/"
    try:
        done, target = action(engine_of(request), who.actor, form)
    except GuardFailed as refused:
        flash(request, f"{words(refused.trigger)} is not possible yet", refused.reasons, error=True)
    except QiflowError as refused:
        problems = getattr(refused, "problems", ()) or (str(refused),)
        flash(request, "That was not done", problems, error=True)
    else:
        flash(request, done)
        back = target or back
    return RedirectResponse(back, status_code=303)


@router.post("/projects", name="create_project_form")
async def create_project(request: Request) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        title = _text(form, "title")
        if title is None:
            raise ValidationError("give the project a title")
        project = engine.create_project(
            title,
            actor=actor,
            owner=_text(form, "owner"),
            sponsor=_text(form, "sponsor"),
            directorate=_text(form, "directorate"),
        )
        return f"{project.ref} created", f"/projects/{project.ref}"

    return await act(request, None, run)


@router.post("/projects/{ref}/fire", name="fire_form")
async def fire(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        trigger = _text(form, "trigger")
        if trigger is None:
            raise ValidationError("choose a step to take")
        data = {"learning": learning} if (learning := _text(form, "learning")) else {}
        project = engine.fire(ref, trigger, actor=actor, expected_version=_version(form), data=data)
        return f"{words(trigger)}: now {phrase(project.state)}", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/details", name="details_form")
async def details(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        objectives = [
            line.strip() for line in form.get("quality_objectives", "").splitlines() if line.strip()
        ]
        engine.update_project(
            ref,
            actor=actor,
            expected_version=_version(form),
            aim=_text(form, "aim"),
            quality_objectives=objectives,
        )
        return "Aim and quality objectives saved", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/drivers", name="driver_form")
async def driver(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        change = engine.add_driver(
            ref,
            form.get("title", ""),
            kind=form.get("kind", ""),
            under=form.get("under", ""),
            actor=actor,
        )
        return f"{change.nodes[0]} added to the driver diagram", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/cycles", name="pdsa_form")
async def pdsa(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        project = engine.record_pdsa(
            ref,
            actor=actor,
            plan=_text(form, "plan"),
            prediction=_text(form, "prediction"),
            observation=_text(form, "observation"),
            study=_text(form, "study"),
            tests=_text(form, "tests"),
        )
        return f"PDSA cycle {project.current_cycle} recorded", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/measures", name="measure_form")
async def measure(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        name = form.get("name", "").strip()
        engine.add_measure(
            ref,
            name,
            kind=form.get("kind", ""),
            unit=form.get("unit", "").strip(),
            direction=form.get("direction", ""),
            target=_number(form, "target", "the target"),
            actor=actor,
        )
        return f"Measure {name!r} added", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/data-points", name="data_point_form")
async def data_point(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        measure = form.get("measure", "")
        value = _number(form, "value", "the value")
        if value is None:
            raise ValidationError("give the value observed")
        engine.record_data_point(ref, measure, value, actor=actor, note=_text(form, "note"))
        return f"{value:g} recorded for {measure}", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/reviews", name="review_form")
async def review(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        engine.record_review(
            ref,
            actor=actor,
            notes=_text(form, "notes"),
            progress_score=_number(form, "progress_score", "the progress score"),
        )
        return "Review recorded", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/signoffs/{gate}", name="signoff_request_form")
async def request_signoff(request: Request, ref: str, gate: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        scores: dict[str, Any] = {}
        for key in form:
            if key.startswith("impact-"):
                domain = key.removeprefix("impact-")
                scores[domain] = {
                    "impact": _whole(form, key, f"the impact on {phrase(domain)}"),
                    "likelihood": _whole(
                        form, f"likelihood-{domain}", f"the likelihood for {phrase(domain)}"
                    ),
                }
        submitted: dict[str, Any] = {"scores": scores} if scores else {}
        engine.request_signoff(ref, gate, submitted, actor=actor)
        return f"{words(gate)} submitted for sign-off", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/signoffs/{gate}/decision", name="signoff_decision_form")
async def decide_signoff(request: Request, ref: str, gate: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        decision = form.get("decision", "")
        if decision not in ("approve", "reject"):
            raise ValidationError("choose approve or reject")
        engine.decide_signoff(
            ref, gate, actor=actor, approve=decision == "approve", comment=_text(form, "comment")
        )
        return f"{words(gate)} {'approved' if decision == 'approve' else 'rejected'}", None

    return await act(request, ref, run)


@router.post("/projects/{ref}/risks/none", name="no_risks_form")
async def no_significant_risks(request: Request, ref: str) -> Response:
    def run(engine: Engine, actor: str, form: Form) -> tuple[str, str | None]:
        engine.declare_no_significant_risks(ref, actor=actor, note=_text(form, "note"))
        return "Declared: no significant risks", None

    return await act(request, ref, run)
