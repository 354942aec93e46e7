"""Idempotency keys, shared by the engine and the HTTP API: a request's fingerprint, and
how long a key is remembered.

A key is bound to the request first made under it: its fingerprint is a SHA-256 over a
canonical JSON form of what was asked (the command and its arguments; for HTTP the
method, path and body). The same key with another request is a conflict, never the old
result. A key is remembered for :data:`DEFAULT_EXPIRY` unless configured otherwise;
after that it may be used again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

#: How long a key is remembered by default (the engine's ``idempotency_expiry``; the HTTP
#: API's keys too).
DEFAULT_EXPIRY = timedelta(hours=24)


def fingerprint(request: Any) -> str:
    """The SHA-256 of ``request`` as compact key-sorted JSON (other values as ``str``)."""
    content = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def expired(created_at: datetime, now: datetime, expiry: timedelta) -> bool:
    """Whether a key remembered at ``created_at`` has run out by ``now``."""
    return created_at + expiry <= now
