"""Bearer tokens, and requests remembered under an Idempotency-Key (per token)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from qiflow.clock import ensure_utc
from qiflow.snapshots import RequestClaim, StoredResponse, Token
from qiflow.store.tables import HTTP_IDEMPOTENCY, TOKEN


def _token(row: RowMapping) -> Token:
    return Token(
        id=row["id"],
        actor=row["actor"],
        scope=row["scope"],
        act_as=bool(row["act_as"]),
        created_by=row["created_by"],
        created_at=ensure_utc(row["created_at"]),
        expires_at=ensure_utc(row["expires_at"]) if row["expires_at"] else None,
        revoked_at=ensure_utc(row["revoked_at"]) if row["revoked_at"] else None,
    )


class Tokens:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(self, values: Mapping[str, Any]) -> None:
        self._conn.execute(insert(TOKEN).values(**values))

    def get(self, token_id: str) -> tuple[Token, str] | None:
        """The token and the hash of its secret."""
        stmt = select(TOKEN).where(TOKEN.c.id == token_id)
        row = self._conn.execute(stmt).mappings().first()
        return None if row is None else (_token(row), row["secret_hash"])

    def all(self) -> list[Token]:
        stmt = select(TOKEN).order_by(TOKEN.c.created_at, TOKEN.c.id)
        return [_token(row) for row in self._conn.execute(stmt).mappings()]

    def revoke(self, token_id: str, *, by: str, at: datetime) -> None:
        self._conn.execute(
            update(TOKEN)
            .where(TOKEN.c.id == token_id, TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=ensure_utc(at), revoked_by=by)
        )


def _key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Requests:
    """Requests remembered per (scope, key); a scope is a token's id."""

    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._conn, self._postgres = conn, postgres

    def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        locked_until: datetime,
        expires_at: datetime,
    ) -> RequestClaim:
        """Claim ``key`` for a request, or say why not (see :class:`RequestClaim`)."""
        now = ensure_utc(now)
        where = (HTTP_IDEMPOTENCY.c.scope == scope, HTTP_IDEMPOTENCY.c.key_hash == _key(key))
        stmt = select(HTTP_IDEMPOTENCY).where(*where)
        if self._postgres:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        if row is not None and ensure_utc(row["expires_at"]) <= now:
            self._conn.execute(delete(HTTP_IDEMPOTENCY).where(*where))
            row = None
        if row is None:
            self._conn.execute(
                delete(HTTP_IDEMPOTENCY).where(
                    HTTP_IDEMPOTENCY.c.scope == scope, HTTP_IDEMPOTENCY.c.expires_at <= now
                )
            )
            self._conn.execute(
                insert(HTTP_IDEMPOTENCY).values(
                    scope=scope,
                    key_hash=_key(key),
                    fingerprint=fingerprint,
                    started_at=now,
                    locked_until=ensure_utc(locked_until),
                    expires_at=ensure_utc(expires_at),
                )
            )
            return RequestClaim("new", now)
        started = ensure_utc(row["started_at"])
        if row["fingerprint"] != fingerprint:
            return RequestClaim("mismatch", started)
        if row["status"] is not None:
            stored = StoredResponse(
                status=row["status"],
                headers=dict(row["headers"] or {}),
                body=row["body"] or "",
                media_type=row["media_type"] or "application/json",
            )
            return RequestClaim("replay", started, stored)
        if row["locked_until"] is not None and ensure_utc(row["locked_until"]) > now:
            return RequestClaim("in_flight", started)
        self._conn.execute(
            update(HTTP_IDEMPOTENCY).where(*where).values(locked_until=ensure_utc(locked_until))
        )
        return RequestClaim("new", started)

    def finish(self, scope: str, key: str, response: StoredResponse) -> None:
        self._conn.execute(
            update(HTTP_IDEMPOTENCY)
            .where(HTTP_IDEMPOTENCY.c.scope == scope, HTTP_IDEMPOTENCY.c.key_hash == _key(key))
            .values(
                status=response.status,
                headers=dict(response.headers),
                body=response.body,
                media_type=response.media_type,
                locked_until=None,
            )
        )

    def release(self, scope: str, key: str) -> None:
        self._conn.execute(
            delete(HTTP_IDEMPOTENCY).where(
                HTTP_IDEMPOTENCY.c.scope == scope,
                HTTP_IDEMPOTENCY.c.key_hash == _key(key),
                HTTP_IDEMPOTENCY.c.status.is_(None),
            )
        )
