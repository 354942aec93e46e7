"""Running the API on uvicorn (``qiflow serve``)."""

from __future__ import annotations

from collections.abc import Sequence

import uvicorn

from qiflow import Engine
from qiflow.http.app import create_app


def serve(engine: Engine, *, host: str, port: int, cors_origins: Sequence[str] = ()) -> None:
    """Serve the API until interrupted. uvicorn's access log is off: it would log paths
    and queries, which may name people; the app logs each request by operation."""
    app = create_app(engine, cors_origins=cors_origins)
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)
