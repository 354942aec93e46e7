"""qiflow over HTTP: ``create_app(engine)`` returns the ASGI application.

Install with ``pip install 'qiflow[http]'`` and run with ``qiflow serve``.
"""

from qiflow.http.app import create_app
from qiflow.http.server import serve

__all__ = ["create_app", "serve"]
