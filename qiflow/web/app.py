"""The web pages beside the HTTP API: ``create_site(engine)`` and ``serve``.

The pages live at the root (``/`` is the portfolio, ``/projects/REF`` a project); the API
keeps ``/api/v1``. The NHS.UK frontend's styles and scripts are served from ``/assets``,
packaged with qiflow (see ``static/VENDOR.md``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from qiflow import Engine
from qiflow.config import WebSettings
from qiflow.http import create_app
from qiflow.logs import get_logger
from qiflow.web import forms, pages
from qiflow.web.rendering import environment
from qiflow.web.session import Proxies

log = get_logger("qiflow.web")

STATIC = Path(__file__).parent / "static"
SECRET_ENV = "QIFLOW_WEB_SECRET"
COOKIE = "qiflow_session"
SESSION_HOURS = 12


def add_pages(
    app: FastAPI,
    engine: Engine,
    settings: WebSettings | None = None,
    *,
    secret: str | None = None,
    https_only: bool = False,
) -> FastAPI:
    """Add the pages to ``app`` (an API from :func:`qiflow.http.create_app`).

    ``secret`` signs the session cookies; without one, ``$QIFLOW_WEB_SECRET``, else a
    random one (sessions then last as long as the process, and each process of several
    has its own: set the variable when more than one serves). ``https_only`` marks the
    cookie Secure (set it behind TLS).
    """
    settings = settings or WebSettings()
    key = secret or os.environ.get(SECRET_ENV)
    if not key:
        log.warning(f"no {SECRET_ENV}: sessions end when this process does")
        key = secrets.token_urlsafe(32)
    app.state.engine = engine
    app.state.web_settings = settings
    app.state.web_proxies = Proxies.parse(settings.trusted_proxies, settings.user_header)
    app.state.templates = environment(engine.zone)
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(forms.router, include_in_schema=False)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=https_only,
    )
    return app


def create_site(
    engine: Engine,
    settings: WebSettings | None = None,
    *,
    cors_origins: Sequence[str] = (),
    secret: str | None = None,
    https_only: bool = False,
) -> FastAPI:
    """The HTTP API with the web pages beside it."""
    app = create_app(engine, cors_origins=cors_origins)
    return add_pages(app, engine, settings, secret=secret, https_only=https_only)


def serve(
    engine: Engine,
    settings: WebSettings | None = None,
    *,
    host: str,
    port: int,
    cors_origins: Sequence[str] = (),
) -> None:
    """Serve the API and the pages until interrupted (see :func:`qiflow.http.serve`)."""
    secure = bool(settings and settings.base_url.startswith("https://"))
    app = create_site(engine, settings, cors_origins=cors_origins, https_only=secure)
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)
