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
import json
from collections.abc import Callable, Mapping
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
#: How a redacted value reads once loaded (history, replay, the project row).
SHOWN: Final = "[redacted]"


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
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    text = at.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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
    """The bytes scheme 2 hashes for one event.

    Most payloads take a fast path: for JSON with no float outside [1e-4, 1e16) but
    integral ones (written as integers), no integer beyond 2**53 - 1 and no key beyond
    the Basic Multilingual Plane, the standard library's compact, key-sorted JSON *is*
    RFC 8785 (the same escapes, code-point order equals UTF-16 order, the same digits).
    Anything else goes through the ``rfc8785`` package; ``tests/test_hash_chain.py``
    checks the two agree.
    """
    document: dict[str, Any] = {
        "actor": actor,
        "at": timestamp(created_at),
        "payload": None,
        "pos": pos,
        "project": project_id,
        "scheme": SCHEME,
        "type": type,
        "version": version,
    }
    try:
        document["payload"] = _fast_committed(payload)
        return _DUMPS(document).encode("utf-8")
    except (_NotPlain, UnicodeEncodeError):
        document["payload"] = committed(payload)
        return rfc8785.dumps(document)


class _NotPlain(Exception):
    """A value the fast path of :func:`content` does not serialise as RFC 8785 does."""


_DUMPS = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_INT_MAX = 2**53 - 1


def _plain(value: Any) -> Any:
    """``value`` as the fast path writes it, or :class:`_NotPlain`."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_MAX <= value <= _INT_MAX:
            return value
        raise _NotPlain
    if kind is float:
        if value.is_integer():
            if -_INT_MAX <= value <= _INT_MAX:
                return int(value)  # ECMAScript writes 1.0 as 1
            raise _NotPlain
        if 1e-4 <= abs(value) < 1e16:  # where repr and ECMAScript agree
            return value
        raise _NotPlain
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_key(k): _plain(v) for k, v in value.items()}
    raise _NotPlain


def _key(key: Any) -> str:
    if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
        raise _NotPlain
    return key


def _fast_commit(value: Any) -> Any:
    """:func:`_commit`, checked for the fast path."""
    if type(value) is str:
        return text_digest(value)
    if type(value) is list:
        return [_fast_commit(v) for v in value]
    if isinstance(value, Mapping) and set(value) == {REDACTED}:
        return _plain(value[REDACTED])
    return _plain(value)


def _fast_committed(payload: Any) -> Any:
    """:func:`committed`, checked for the fast path."""
    if type(payload) is dict:
        return {
            (k if type(k) is str and k.isascii() else _key(k)): (
                _fast_commit(v) if k in FREE_TEXT_KEYS else _fast_committed(v)
            )
            for k, v in payload.items()
        }
    if type(payload) is list:
        return [_fast_committed(v) for v in payload]
    return _plain(payload)


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


def _is_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {REDACTED}


def shown(payload: Any) -> Any:
    """``payload`` as people and replays read it: each redaction marker becomes
    :data:`SHOWN`."""
    if _is_marker(payload):
        return SHOWN
    if isinstance(payload, Mapping):
        return {k: shown(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [shown(v) for v in payload]
    return payload


def loads_shown(text: str) -> Any:
    """A stored payload, parsed, with its redaction markers shown (walked only when the
    text holds one)."""
    value = json.loads(text)
    return shown(value) if '"redacted"' in text else value


def redact_matching(payload: Any, matches: Callable[[str], bool]) -> Any:
    """``payload`` with every free-text string (at any depth) that ``matches`` replaced by
    its redaction marker; :func:`committed` gives the same result for both."""
    if isinstance(payload, Mapping):
        return {
            k: _redact_text(v, matches) if k in FREE_TEXT_KEYS else redact_matching(v, matches)
            for k, v in payload.items()
        }
    if isinstance(payload, list):
        return [redact_matching(v, matches) for v in payload]
    return payload


def _redact_text(value: Any, matches: Callable[[str], bool]) -> Any:
    if isinstance(value, str):
        return {REDACTED: text_digest(value)} if matches(value) else value
    if isinstance(value, list):
        return [_redact_text(v, matches) for v in value]
    return value
