"""Cursor pagination with ``Link`` headers (RFC 8288).

A list answers with at most ``limit`` items and, when there are more, a
``Link: <...>; rel="next"`` header whose URL carries an opaque ``cursor``. Clients
follow the link; they never build cursors themselves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Query, Request, Response

from qiflow.http.problems import ProblemError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 500).")]
Cursor = Annotated[
    str | None,
    Query(max_length=100, description='Opaque: follow the `Link: rel="next"` header.'),
]


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"o:{position}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int:
    """The position a cursor stands for (0 without one); 422 for a forged cursor."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        position = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        position, kind = -1, ""
    if kind != "o" or position < 0:
        raise ProblemError(
            "invalid-request", "cursor is not one this API gave out: follow the Link header"
        )
    return position


def link_next(request: Request, response: Response, position: int, limit: int) -> None:
    """Add ``Link: <...>; rel="next"`` pointing at the page that starts at ``position``."""
    url = request.url.include_query_params(cursor=encode(position), limit=limit)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


def page(
    request: Request, response: Response, items: Sequence[T], cursor: str | None, limit: int
) -> list[T]:
    """One page of an in-memory list, with the next link when more remain."""
    start = decode(cursor)
    chunk = list(items[start : start + limit])
    if start + limit < len(items):
        link_next(request, response, start + limit, limit)
    return chunk
