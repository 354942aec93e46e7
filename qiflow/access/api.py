"""The access commands of the engine: bearer tokens and remembered requests.

:class:`~qiflow.engine.Engine` delegates to :class:`AccessCommands`. Tokens are managed
with ``qiflow token create|list|revoke`` (or the API's admin operations);
``authenticate`` checks one. Remembered requests back the HTTP ``Idempotency-Key``.
"""

from __future__ import annotations

from datetime import timedelta

from qiflow.access import tokens
from qiflow.clock import Clock
from qiflow.durations import parse_duration
from qiflow.exceptions import ValidationError
from qiflow.logs import get_logger
from qiflow.snapshots import TOKEN_SCOPES, RequestClaim, StoredResponse, Token
from qiflow.store import IntegrityError, Store

log = get_logger("qiflow")


class AccessCommands:
    """Bearer tokens, and requests remembered for their retries."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # tokens -----------------------------------------------------------------------
    def create_token(
        self, *, actor: str, scope: str, created_by: str, act_as: bool, expires: str | None
    ) -> tuple[Token, str]:
        problems = []
        if not actor or not actor.strip() or len(actor) > 200 or actor != actor.strip():
            problems.append(f"actor {actor!r} is not a person's or service's id")
        if scope not in TOKEN_SCOPES:
            problems.append(f"scope {scope!r} is not one of {', '.join(TOKEN_SCOPES)}")
        lifetime = None
        if expires is not None:
            try:
                lifetime = parse_duration(expires)
            except ValueError as exc:
                problems.append(f"expires: {exc}")
        if problems:
            raise ValidationError("; ".join(problems))
        now = self._clock.now()
        token_id, secret_hash, text = tokens.new_token()
        with self._store.write() as tx:
            tx.tokens.insert(
                {
                    "id": token_id,
                    "secret_hash": secret_hash,
                    "actor": actor,
                    "scope": scope,
                    "act_as": act_as,
                    "created_by": created_by,
                    "created_at": now,
                    "expires_at": lifetime.after(now) if lifetime else None,
                }
            )
            found = tx.tokens.get(token_id)
        assert found is not None
        log.info("token created", token=token_id, scope=scope, act_as=act_as)
        return found[0], text

    def tokens(self) -> list[Token]:
        with self._store.read() as tx:
            return tx.tokens.all()

    def revoke_token(self, token_id: str, *, actor: str) -> Token | None:
        with self._store.write() as tx:
            tx.tokens.revoke(token_id, by=actor, at=self._clock.now())
            found = tx.tokens.get(token_id)
        if found is not None:
            log.info("token revoked", token=token_id)
        return found[0] if found else None

    def authenticate(self, text: str) -> Token | None:
        parsed = tokens.parse(text)
        found = None
        if parsed is not None:
            with self._store.read() as tx:
                found = tx.tokens.get(parsed[0])
        secret = parsed[1] if parsed else text
        if not tokens.matches(secret, found[1] if found else None) or found is None:
            return None
        token = found[0]
        return token if token.usable(self._clock.now()) else None

    # remembered requests ------------------------------------------------------------
    def claim_request(
        self, scope: str, key: str, fingerprint: str, *, lease: timedelta, expiry: timedelta
    ) -> RequestClaim:
        for attempt in (1, 2):
            now = self._clock.now()
            try:
                with self._store.write() as tx:
                    return tx.requests.claim(
                        scope,
                        key,
                        fingerprint,
                        now=now,
                        locked_until=now + lease,
                        expires_at=now + expiry,
                    )
            except IntegrityError:  # a twin inserted the same key first: look again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def finish_request(self, scope: str, key: str, response: StoredResponse) -> None:
        with self._store.write() as tx:
            tx.requests.finish(scope, key, response)

    def release_request(self, scope: str, key: str) -> None:
        with self._store.write() as tx:
            tx.requests.release(scope, key)
