"""FastAPI dependencies for every router: the app context and the request's database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.observability import Metrics
from leap_connect.settings import Settings

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

    from leap_connect.kit.http import HttpClientFactory
    from leap_connect.utilities.connector import Connector


@dataclass
class AppContext:
    """Everything a request may need that lives as long as the app."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    encryptor: Encryptor
    metrics: Metrics
    templates: Jinja2Templates
    http: HttpClientFactory
    connectors: dict[str, Connector]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def secret_key(self) -> str:
        return self.settings.secret_key.get_secret_value()


def get_app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def _app_context(request: Request) -> AppContext:
    # Async on purpose: FastAPI runs a plain-def dependency in a worker thread, a thread hop
    # on every request that uses the context (nearly all of them).
    return get_app_context(request)


AppContextDep = Annotated[AppContext, Depends(_app_context)]


async def get_db_session(context: AppContextDep) -> AsyncIterator[AsyncSession]:
    """One session per request; it commits when the endpoint returns and rolls back if it raises."""
    async with context.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": commit before the response is sent, so a redirect never outruns its write.
SessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
