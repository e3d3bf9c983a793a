"""API authentication: a Bearer API key, its organization, its rate limit and the scopes it has."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.db import create_sessionmaker, transaction
from leap_connect.kit.deps import AppContext, AppContextDep
from leap_connect.kit.problems import Forbidden, TooManyRequests, Unauthorized
from leap_connect.kit.ratelimit import RateLimiter, RateLimitSettings
from leap_connect.organizations.service import authenticate_api_key, recently_verified_api_key

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
    context: AppContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiCaller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>`.", headers=CHALLENGE)
    token = credentials.credentials
    api_key = recently_verified_api_key(context.secret_key, token)
    if api_key is None:
        # A transaction of its own (not the request's session, which a call that finds the key
        # verified never opens): the key's last use is recorded whatever the call does next.
        async with transaction(context.sessionmaker) as session:
            api_key = await authenticate_api_key(session, context.secret_key, token)
    if api_key is None:
        raise Unauthorized("This API key is not valid.", headers=CHALLENGE)
    caller = ApiCaller(api_key.organization_id, api_key.id, api_key.scopes)
    retry_after = await api_rate_limiter(context).hit("api_key", str(api_key.id))
    if retry_after is not None:
        raise TooManyRequests(
            f"This API key made too many requests. Retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    request.state.api_caller = caller
    return caller


RATE_LIMITER = "api_rate_limiter"


def api_rate_limiter(context: AppContext) -> RateLimiter:
    """The app's limiter per API key, made on first use (tests may put their own in first)."""
    limiter = context.extras.get(RATE_LIMITER)
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter.from_settings(RateLimitSettings())
        context.extras[RATE_LIMITER] = limiter
    return limiter


ApiCallerDep = Annotated[ApiCaller, Depends(get_api_caller)]

READ_SESSIONMAKER = "api_read_sessionmaker"


def read_sessionmaker(context: AppContext) -> async_sessionmaker[AsyncSession]:
    """Sessions whose statements each commit by themselves, made on first use."""
    sessionmaker = context.extras.get(READ_SESSIONMAKER)
    if not isinstance(sessionmaker, async_sessionmaker):
        autocommit = context.engine.execution_options(isolation_level="AUTOCOMMIT")
        sessionmaker = context.extras[READ_SESSIONMAKER] = create_sessionmaker(autocommit)
    return sessionmaker


async def get_read_session(context: AppContextDep) -> AsyncIterator[AsyncSession]:
    """A session for an operation that only reads, with one statement: without a transaction
    around it, it is one round trip to the database instead of three (BEGIN, it, COMMIT)."""
    async with read_sessionmaker(context)() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


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
