"""Who is looking at a page: a token sign-in kept in a signed cookie, or a trusted proxy's
header; and the cross-site request forgery token every form carries.

The session cookie (Starlette's ``SessionMiddleware``, signed with itsdangerous) holds the
signed-in token's id, never its secret, and the form token. A token is looked up again on
every request, so a revoked or expired one signs its person out at once. The proxy header
is believed only from the addresses in ``[web] trusted_proxies``; from anyone else it is
ignored (and logged), so a visitor cannot name themselves.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

from qiflow import Engine
from qiflow.logs import get_logger

log = get_logger("qiflow.web")

CSRF_FIELD = "csrf_token"
SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Visitor:
    """The person a page is for, and what they may do there."""

    actor: str
    #: read (look), write (act) or admin, as the token's scope; a proxy's person acts.
    scope: str
    #: "token" or "proxy".
    via: str

    def may(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


@dataclass(frozen=True)
class Proxies:
    """The reverse proxies trusted to name the signed-in person in ``header``."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    header: str

    @classmethod
    def parse(cls, addresses: Sequence[str], header: str) -> Proxies:
        return cls(tuple(ipaddress.ip_network(a, strict=False) for a in addresses), header)

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def visitor(request: Request) -> Visitor | None:
    """Who sent ``request``, or None (signed out)."""
    proxies: Proxies = request.app.state.web_proxies
    named = request.headers.get(proxies.header, "").strip()
    host = request.client.host if request.client else None
    if named:
        if proxies.trusts(host):
            return Visitor(named, "write", "proxy")
        log.warning("proxy header ignored: not from a trusted proxy", header=proxies.header)
    token_id = request.session.get("token")
    if not isinstance(token_id, str):
        return None
    engine: Engine = request.app.state.engine
    for token in engine.tokens():
        if token.id == token_id and token.usable(engine.clock.now()):
            return Visitor(token.actor, token.scope, "token")
    request.session.pop("token", None)
    return None


def csrf_token(request: Request) -> str:
    """The session's form token, made on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    """Whether a posted form's token is the session's (compared in constant time)."""
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def sign_in(request: Request, token_id: str) -> None:
    """Start a session for the token (a new form token too: no fixation)."""
    request.session.clear()
    request.session["token"] = token_id
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()
