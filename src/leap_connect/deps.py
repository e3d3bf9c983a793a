"""FastAPI dependencies every router uses: the runtime and the request's database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.runtime import Runtime


async def _runtime(request: Request) -> Runtime:
    # Async on purpose: FastAPI runs a plain-def dependency in a worker thread, a thread hop
    # on every request that uses the runtime (nearly all of them).
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def get_db_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request; it commits when the endpoint returns and rolls back if it raises."""
    async with runtime.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session for an operation that only reads, with one statement: without a transaction
    around it, it is one round trip to the database instead of three (BEGIN, it, COMMIT)."""
    async with runtime.read_sessionmaker() as session:
        yield session


# scope="function": commit before the response is sent, so a redirect never outruns its write.
SessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
