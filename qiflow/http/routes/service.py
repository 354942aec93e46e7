"""For load balancers and people: health, readiness, and the interactive docs.

The docs page is Swagger UI 5 (which reads OpenAPI 3.1) served from the files the
``fastapi-offline`` package ships, so it works on networks that block CDNs.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from qiflow.http.routes.common import engine_of
from qiflow.http.schemas import Health, Readiness

router = APIRouter(tags=["service"])

DOCS_ASSETS = "/docs/assets"


@router.get("/health", operation_id="health", response_model=Health, summary="The process is up")
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    operation_id="ready",
    response_model=Readiness,
    summary="The database is reachable and at this qiflow's schema",
    responses={503: {"model": Readiness, "description": "Not ready (the detail says why)."}},
)
async def ready(request: Request) -> JSONResponse:
    engine = engine_of(request)
    problem = await run_in_threadpool(engine.readiness)
    body = Readiness(status="unavailable" if problem else "ready", detail=problem)
    return JSONResponse(body.model_dump(), status_code=503 if problem else 200)


def mount_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve Swagger UI at /docs with its assets from the package (no CDN)."""
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )
