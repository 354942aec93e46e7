"""Bearer tokens: how a secret is made, shown once, stored as a hash and checked.

A token reads ``qf_<id>_<secret>``. Only the SHA-256 of the secret is stored; the id
finds the row and the hashes are compared in constant time. A token acts as its
person (``actor``) with one scope: ``read`` (queries), ``write`` (commands) or
``admin`` (also tokens and the people directory), each including the ones before it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "qf"
_FORM = re.compile(r"^qf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_UNKNOWN = hashlib.sha256(b"no such token").hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh (id, secret hash, token text); the text is shown once and never stored."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, digest(secret), f"{PREFIX}_{token_id}_{secret}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(text: str) -> tuple[str, str] | None:
    """(id, secret) from a token's text, or None if it is not one of ours."""
    match = _FORM.match(text.strip())
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, stored_hash: str | None) -> bool:
    """Compare in constant time (against a dummy hash when there is no such token)."""
    same = hmac.compare_digest(digest(secret), stored_hash or _UNKNOWN)
    return same and stored_hash is not None
