"""``qiflow serve``: the HTTP API and the web pages on uvicorn."""

from __future__ import annotations

import click

from qiflow.cli.context import Context, pass_context


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    envvar="QIFLOW_CORS_ORIGINS",
    help="A browser origin allowed to call the API (repeat for several; default: none, "
    "CORS off); env QIFLOW_CORS_ORIGINS, space-separated.",
)
@pass_context
def serve(state: Context, /, host: str, port: int, cors_origins: tuple[str, ...]) -> None:
    """Serve the HTTP API (under /api/v1; OpenAPI at /openapi.json, docs at /docs) and
    the web pages (the portfolio at /, sign in at /sign-in).

    Needs `pip install 'qiflow[http]'`. Several processes or hosts may serve one
    PostgreSQL database (then set QIFLOW_WEB_SECRET, the same for each, to sign the
    pages' session cookies). Create tokens with `qiflow token create`; `[web]
    trusted_proxies` and `user_header` let a single sign-on gateway name the user.
    """
    try:  # the HTTP API is an optional extra: import it only when asked to serve
        from qiflow import web
    except ImportError as exc:
        raise click.UsageError(
            f"the HTTP API needs its extra: pip install 'qiflow[http]' ({exc.name} is missing)"
        ) from None
    web.serve(state.engine(), state.settings().web, host=host, port=port, cors_origins=cors_origins)
