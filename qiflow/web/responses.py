"""What every page shares: rendering a template for its visitor, the sign-in redirect,
and the one-time message a form leaves for the page it redirects to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment

from qiflow import Engine
from qiflow.web.session import Visitor, csrf_token, visitor

#: Pages never cached by a browser or proxy: they show one person's work.
NO_STORE = {"Cache-Control": "no-store"}


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def render(
    request: Request,
    template: str,
    *,
    title: str,
    who: Visitor | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    html = env.get_template(template).render(
        title=title,
        visitor=who,
        csrf_token=csrf_token(request),
        flash=request.session.pop("flash", None),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def to_sign_in(request: Request) -> RedirectResponse:
    """Signed out: to the sign-in page, which comes back here afterwards."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(back, safe='')}", status_code=303)


def who_or_redirect(request: Request) -> Visitor | RedirectResponse:
    found = visitor(request)
    return found if found is not None else to_sign_in(request)


def flash(request: Request, title: str, lines: Sequence[str] = (), *, error: bool = False) -> None:
    """A message for the next page shown (post/redirect/get)."""
    request.session["flash"] = {
        "kind": "error" if error else "success",
        "title": title,
        "lines": list(lines),
    }


def safe_next(target: str | None) -> str:
    """A redirect target after sign-in: a path on this site, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def refused_form(request: Request) -> HTMLResponse:
    """403 for a form without the session's CSRF token: nothing was changed."""
    return render(
        request,
        "refused.html",
        title="This form was not accepted",
        who=visitor(request),
        status=403,
        reason="The form did not carry this session's security token (it may have come "
        "from another site, or your session may have ended). Nothing was changed. Go back, "
        "reload the page and try again.",
    )
