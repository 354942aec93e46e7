"""The hash chain over each project's events, and its verification.

Each event row stores ``prev_hash`` (the previous event's hash, or 64 zeros for
a project's first event) and ``hash = SHA-256(prev_hash + "\\n" + content)``. The
project row keeps the hash of its last event, so deleting the newest event is
caught as well as changing, deleting or reordering any other.

Each event records the scheme that made its ``content`` (``scheme``): scheme 2 is
RFC 8785 canonical JSON with free text committed by digest (:mod:`qiflow.canonical`,
``docs/audit.md``); scheme 1, for events written before it, is compact key-sorted
JSON with the payload as text (:func:`canonical`). A chain may hold both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from qiflow import canonical as canonical_v2
from qiflow.clock import ensure_utc

GENESIS = "0" * 64
#: The scheme new events are hashed with.
SCHEME = canonical_v2.SCHEME


def dumps(payload: Mapping[str, Any]) -> str:
    """The one JSON form qiflow stores and hashes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(
    *,  # scheme 1
    project_id: str,
    pos: int,
    version: int,
    type: str,
    actor: str,
    payload: str,
    created_at: datetime,
) -> str:
    return dumps(
        {
            "actor": actor,
            "at": ensure_utc(created_at).isoformat(timespec="microseconds"),
            "payload": payload,
            "pos": pos,
            "project": project_id,
            "type": type,
            "version": version,
        }
    )


def chain(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def event_hash(prev_hash: str, row: StoredEvent) -> str:
    """The hash a stored event should have, by the scheme it was written with."""
    fields: dict[str, Any] = {
        "project_id": row.project_id,
        "pos": row.pos,
        "version": row.version,
        "type": row.type,
        "actor": row.actor,
        "created_at": row.created_at,
    }
    if row.scheme == 1:
        return chain(prev_hash, canonical(payload=row.payload, **fields))
    parsed = getattr(row, "parsed", None)  # a store's StoredEvent parses its payload once
    payload = parsed if parsed is not None else json.loads(row.payload)
    return canonical_v2.chain(prev_hash, canonical_v2.content(payload=payload, **fields))


@dataclass(frozen=True)
class Break:
    """The first place a project's chain does not verify."""

    project_ref: str
    seq: int | None
    pos: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event seq {self.seq} (position {self.pos})" if self.seq is not None else "head"
        return f"{self.project_ref}: {where}: {self.reason}"


class StoredEvent(Protocol):
    """An event as stored: its payload is the JSON text that was hashed."""

    @property
    def seq(self) -> int: ...
    @property
    def project_id(self) -> str: ...
    @property
    def pos(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def payload(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def scheme(self) -> int: ...


def verify_project(
    ref: str, head_hash: str, event_count: int, rows: Iterable[StoredEvent]
) -> Break | None:
    """Check one project's events, in position order, against its stored head."""
    prev = GENESIS
    expected_pos = 1
    last_seq = 0
    for row in rows:
        seq, pos = row.seq, row.pos
        if pos != expected_pos:
            return Break(
                ref,
                seq,
                pos,
                f"expected position {expected_pos}: an event is missing or out of order",
            )
        if seq <= last_seq:
            return Break(ref, seq, pos, "sequence number out of order: events were reordered")
        if row.prev_hash != prev:
            return Break(ref, seq, pos, "prev_hash does not match the previous event's hash")
        if event_hash(prev, row) != row.hash:
            return Break(ref, seq, pos, "content does not match its hash: the event was changed")
        prev, expected_pos, last_seq = row.hash, expected_pos + 1, seq
    if expected_pos - 1 != event_count:
        return Break(
            ref,
            None,
            None,
            f"the project records {event_count} events but "
            f"{expected_pos - 1} were found: events were deleted",
        )
    if prev != head_hash:
        return Break(ref, None, None, "the last event's hash is not the project's head hash")
    return None
