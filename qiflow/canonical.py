"""The canonical form of an event that the audit chain hashes (scheme 2).

Another program can verify a chain from this description alone (``docs/audit.md``):

* The hashed content of an event is the JSON object ``{"actor", "at", "payload", "pos",
  "project", "scheme", "type", "version"}``, serialised by RFC 8785 (JSON
  Canonicalization Scheme: keys sorted by UTF-16 code units, no whitespace, numbers
  in ECMAScript form, UTF-8). ``at`` is the UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``;
  ``scheme`` is 2.
* In ``payload``, every value under a free-text key (:data:`FREE_TEXT_KEYS`, at any
  depth) is committed by its digest: a string ``s`` becomes ``"sha256:" +
  hex(SHA-256(UTF-8(s)))`` (a list of strings, each string). A value redacted later is
  stored as ``{"redacted": "sha256:<hex>"}`` and stands for that digest, so redacting
  personal data does not break the chain.
* ``hash = hex(SHA-256(prev_hash + "\\n" + content))``, with ``prev_hash`` the previous
  event's hash (64 zeros for a project's first event) as ASCII.

Scheme 1 (events written before scheme 2) is kept in :mod:`qiflow.audit` so old
chains still verify. NaN, infinity and integers beyond 2**53 cannot be hashed: RFC 8785
has no form for them, and qiflow refuses them as input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

SCHEME: Final = 2
#: Keys whose values are free text that may hold personal data: hashed by digest.
FREE_TEXT_KEYS: Final = frozenset(
    {
        "title",
        "aim",
        "primary_outcome",
        "quality_objectives",
        "secondary_outcomes",
        "learning",
        "plan",
        "prediction",
        "observation",
        "study",
        "notes",
        "note",
        "comment",
        "reason",
    }
)
REDACTED: Final = "redacted"


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _commit(value: Any) -> Any:
    """A free-text value as committed: digests for strings, redaction markers as they are."""
    if isinstance(value, str):
        return text_digest(value)
    if isinstance(value, list):
        return [_commit(v) for v in value]
    if isinstance(value, Mapping) and set(value) == {REDACTED}:
        return value[REDACTED]
    return value


def committed(payload: Any) -> Any:
    """``payload`` with every free-text value replaced by its digest."""
    if isinstance(payload, Mapping):
        return {k: _commit(v) if k in FREE_TEXT_KEYS else committed(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [committed(v) for v in payload]
    return payload


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(
    *,
    project_id: str,
    pos: int,
    version: int,
    type: str,
    actor: str,
    payload: Mapping[str, Any],
    created_at: datetime,
) -> bytes:
    """The bytes scheme 2 hashes for one event."""
    return rfc8785.dumps(
        {
            "actor": actor,
            "at": timestamp(created_at),
            "payload": committed(payload),
            "pos": pos,
            "project": project_id,
            "scheme": SCHEME,
            "type": type,
            "version": version,
        }
    )


def chain(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


def redact(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``payload`` with the free text under ``key`` (top level) replaced by its marker."""
    if key not in FREE_TEXT_KEYS:
        raise ValueError(f"{key!r} is not a free-text key")
    value = payload[key]
    marker: Any = (
        [{REDACTED: _commit(v)} for v in value]
        if isinstance(value, list)
        else {REDACTED: _commit(value)}
    )
    return {**payload, key: marker}
