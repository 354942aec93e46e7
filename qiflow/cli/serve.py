"""``qiflow serve``: the HTTP API on uvicorn."""

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
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs).

    Needs `pip install 'qiflow[http]'`. Several processes or hosts may serve one
    PostgreSQL database. Create tokens with `qiflow token create`.
    """
    try:  # the HTTP API is an optional extra: import it only when asked to serve
        from qiflow import http
    except ImportError as exc:
        raise click.UsageError(
            f"the HTTP API needs its extra: pip install 'qiflow[http]' ({exc.name} is missing)"
        ) from None
    http.serve(state.engine(), host=host, port=port, cors_origins=cors_origins)
