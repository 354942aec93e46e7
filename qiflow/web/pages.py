"""The pages people read: sign-in, the portfolio, a project, my work, the programme board.

Signed out, every page redirects to ``/sign-in``. Each page reads through the engine's
public API as its visitor, so a project page lists exactly the steps the API would let
that person take, and why not the others.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from qiflow import QiflowError, UnknownProject
from qiflow.measurement import SCORES
from qiflow.web import pack, views
from qiflow.web.forms import read_form
from qiflow.web.responses import (
    NO_STORE,
    engine_of,
    flash,
    refused_form,
    render,
    safe_next,
    who_or_redirect,
)
from qiflow.web.session import csrf_ok, sign_in, sign_out, visitor

router = APIRouter()


@router.get("/sign-in", name="sign_in_page")
def sign_in_page(request: Request, next: str = "/") -> Response:
    return render(
        request, "sign_in.html", title="Sign in", who=visitor(request), next=safe_next(next)
    )


@router.post("/sign-in", name="sign_in")
async def sign_in_post(request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf_token")):
        return refused_form(request)
    target = safe_next(form.get("next"))
    limiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(client)
    if wait is not None:
        flash(request, "Too many failed sign-ins", [f"Try again in {wait} seconds."], error=True)
        return RedirectResponse(f"/sign-in?next={target}", status_code=303)
    token = engine_of(request).authenticate(form.get("token", "").strip())
    if token is None:
        limiter.failed(client)
        flash(
            request,
            "There is a problem",
            [
                "That token is unknown, revoked or expired. Ask an administrator for one "
                "made with: qiflow token create"
            ],
            error=True,
        )
        return RedirectResponse(f"/sign-in?next={target}", status_code=303)
    sign_in(request, token.id)
    return RedirectResponse(target, status_code=303)


@router.get("/sign-out", name="sign_out_page")
def sign_out_page(request: Request) -> Response:
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    return render(request, "sign_out.html", title="Sign out", who=who)


@router.post("/sign-out", name="sign_out")
async def sign_out_post(request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf_token")):
        return refused_form(request)
    sign_out(request)
    return RedirectResponse("/sign-in", status_code=303)


@router.get("/", name="portfolio")
def portfolio(request: Request) -> Response:
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    engine = engine_of(request)
    filters = views.Filters.of(request.query_params)
    return render(
        request,
        "portfolio.html",
        title="Portfolio",
        who=who,
        nav="portfolio",
        filters=filters,
        stages=views.portfolio(engine, filters),
        programme_values=views.PROGRAMME,
    )


@router.get("/projects/{ref}", name="project_page")
def project_page(request: Request, ref: str) -> Response:
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    engine = engine_of(request)
    try:
        page = views.project_page(engine, ref, who.actor)
    except UnknownProject:
        return render(
            request,
            "refused.html",
            title="Project not found",
            who=who,
            status=404,
            reason=f"There is no project {ref}. Check the reference on the portfolio.",
        )
    except QiflowError as exc:
        return render(
            request, "refused.html", title="Cannot show", who=who, status=400, reason=str(exc)
        )
    return render(
        request,
        "project.html",
        title=f"{page.project.ref}: {page.project.title}",
        who=who,
        nav="portfolio",
        page=page,
        may_act=who.may("write"),
        scores=[(f"{s:g}", f"{s:g}") for s in SCORES],
    )


@router.get("/my-work", name="my_work")
def my_work(request: Request) -> Response:
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    work = views.my_work(engine_of(request), who.actor)
    return render(request, "my_work.html", title="My work", who=who, nav="my-work", work=work)


@router.get("/programme", name="programme_board")
def programme_board(request: Request) -> Response:
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    programme, candidates = views.programme_board(engine_of(request))
    return render(
        request,
        "programme.html",
        title="Programme board",
        who=who,
        nav="programme",
        programme=programme,
        candidates=candidates,
    )


REPORT_TYPES = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


@router.get("/reports/{name}", name="report")
def report(request: Request, name: str, since: str = "") -> Response:
    """The committee (or board) pack as a page; ``NAME.pdf``, ``.csv`` or ``.html`` downloads it."""
    who = who_or_redirect(request)
    if isinstance(who, RedirectResponse):
        return who
    kind, _, suffix = name.partition(".")
    engine = engine_of(request)
    try:
        start = pack.parse_since(since, engine.zone) if since.strip() else None
        built = pack.build(engine, kind, since=start)
    except QiflowError as exc:
        return render(
            request,
            "refused.html",
            title="Cannot make that report",
            who=who,
            status=400 if kind in pack.KINDS else 404,
            reason=str(exc),
        )
    env = request.app.state.templates
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{kind}-pack.{suffix}"'}
    if suffix == "pdf":
        return Response(pack.pdf(env, built), media_type=REPORT_TYPES["pdf"], headers=headers)
    if suffix == "csv":
        return Response(pack.csv_text(built), media_type=REPORT_TYPES["csv"], headers=headers)
    if suffix == "html":
        return Response(pack.html(env, built), media_type=REPORT_TYPES["html"], headers=headers)
    if suffix:
        return render(
            request,
            "refused.html",
            title="Unknown format",
            who=who,
            status=404,
            reason=f"A pack comes as .pdf, .csv or .html, not .{suffix}.",
        )
    return render(
        request,
        "report.html",
        title=built.meeting,
        who=who,
        nav=kind,
        pack=built,
        since_text=since,
        query=f"?since={since}" if since else "",
    )
