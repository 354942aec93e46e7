"""Bearer tokens (admin): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from qiflow.http import commands
from qiflow.http.access import Admin
from qiflow.http.commands import IdempotencyKey
from qiflow.http.pagination import Cursor, Limit, page
from qiflow.http.problems import ProblemError, responses
from qiflow.http.routes.common import API, LINK_HEADER, LOCATION_HEADER, engine_of
from qiflow.http.routes.projects import READ
from qiflow.http.schemas import TokenCreated, TokenIn, TokenOut

router = APIRouter(tags=["tokens"])


@router.post(
    "/tokens",
    operation_id="create_token",
    status_code=201,
    response_model=TokenCreated,
    summary="Create a bearer token; its secret is in this response only (admin)",
    responses={
        201: {"headers": LOCATION_HEADER},
        **responses(
            *READ, "validation-error", "idempotency-key-in-flight", "idempotency-key-reused"
        ),
    },
)
def create_token(
    request: Request, body: TokenIn, caller: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    engine = engine_of(request)

    def execute(_key: str | None) -> commands.Outcome:
        token, secret = engine.create_token(
            actor=body.actor,
            scope=body.scope,
            act_as=body.act_as,
            expires=body.expires,
            created_by=caller.actor,
        )
        created = TokenCreated.model_validate(
            {**TokenOut.model_validate(token).model_dump(), "token": secret}
        )
        return commands.Outcome(created, 201, {"Location": f"{API}/tokens/{token.id}"})

    return commands.run(
        request, caller, payload=body, idempotency_key=idempotency_key, execute=execute
    )


@router.get(
    "/tokens",
    operation_id="list_tokens",
    response_model=list[TokenOut],
    summary="Every token (never a secret) (admin)",
    responses={200: {"headers": LINK_HEADER}, **responses(*READ)},
)
def list_tokens(
    request: Request, response: Response, caller: Admin, limit: Limit = 50, cursor: Cursor = None
) -> list[TokenOut]:
    tokens = engine_of(request).tokens()
    return [TokenOut.model_validate(t) for t in page(request, response, tokens, cursor, limit)]


TokenId = Annotated[str, Path(max_length=64)]


@router.get(
    "/tokens/{token_id}",
    operation_id="show_token",
    response_model=TokenOut,
    summary="One token (admin)",
    responses=responses(*READ, "not-found"),
)
def show_token(request: Request, token_id: TokenId, caller: Admin) -> TokenOut:
    for token in engine_of(request).tokens():
        if token.id == token_id:
            return TokenOut.model_validate(token)
    raise ProblemError("not-found", f"no token {token_id!r}")


@router.delete(
    "/tokens/{token_id}",
    operation_id="revoke_token",
    response_model=TokenOut,
    summary="Revoke a token at once (admin)",
    responses=responses(*READ, "not-found"),
)
def revoke_token(request: Request, token_id: TokenId, caller: Admin) -> TokenOut:
    token = engine_of(request).revoke_token(token_id, actor=caller.actor)
    if token is None:
        raise ProblemError("not-found", f"no token {token_id!r}")
    return TokenOut.model_validate(token)
