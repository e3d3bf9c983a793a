"""API authentication: a Bearer API key, its organization, its rate limit and the scopes it has."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leap_connect.db import transaction
from leap_connect.deps import RuntimeDep
from leap_connect.kit.problems import Forbidden, TooManyRequests, Unauthorized
from leap_connect.organizations.service import (
    authenticate_api_key,
    listen_for_revoked_api_keys,
    recently_verified_api_key,
)

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lc_live_…`")

CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling: every query an endpoint makes is scoped to `organization_id`."""

    organization_id: uuid.UUID
    api_key_id: uuid.UUID
    scopes: frozenset[str]

    @property
    def actor_id(self) -> str:
        return f"api_key:{self.api_key_id}"


async def get_api_caller(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiCaller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.", headers=CHALLENGE)
    token = credentials.credentials
    api_key = recently_verified_api_key(runtime.secret_key, token)
    if api_key is None:
        # Keys are remembered only here, so a process listens from its first lookup on.
        await listen_for_revoked_api_keys(runtime.broadcast)
        # A transaction of its own (not the request's session, which a call that finds the key
        # verified never opens): the key's last use is recorded whatever the call does next.
        async with transaction(runtime.sessionmaker) as session:
            api_key = await authenticate_api_key(session, runtime.secret_key, token)
    if api_key is None:
        raise Unauthorized("This API key is not valid.", headers=CHALLENGE)
    caller = ApiCaller(api_key.organization_id, api_key.id, api_key.scopes)
    retry_after = await runtime.api_limiter.hit("api_key", str(api_key.id))
    if retry_after is not None:
        raise TooManyRequests(
            f"This API key made too many requests. Retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    request.state.api_caller = caller
    return caller


ApiCallerDep = Annotated[ApiCaller, Depends(get_api_caller)]


def require_scope(scope: str) -> object:
    """A dependency that lets the call through only with `scope` (403 otherwise)."""

    async def check(caller: ApiCallerDep) -> ApiCaller:
        if scope not in caller.scopes:
            raise Forbidden(f"This API key lacks the `{scope}` scope.")
        return caller

    return Depends(check)


MetersRead = Annotated[ApiCaller, require_scope("meters:read")]
MetersWrite = Annotated[ApiCaller, require_scope("meters:write")]
ConnectRead = Annotated[ApiCaller, require_scope("connect:read")]
ConnectWrite = Annotated[ApiCaller, require_scope("connect:write")]
WebhooksManage = Annotated[ApiCaller, require_scope("webhooks:manage")]
