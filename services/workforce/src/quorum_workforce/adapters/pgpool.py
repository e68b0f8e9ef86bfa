"""A few raw autocommit psycopg connections for the one statement on the submit path.

The answer write is the hottest database call of the platform. Through SQLAlchemy's pooled engine it costs
a pre-ping, BEGIN, the insert and COMMIT (four round trips) and ~450 us of CPU; as one autocommit statement
on a raw psycopg connection it is one round trip and ~170 us. Everything else uses SQLAlchemy as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from quorum_common.logging import get_logger
from quorum_common.settings import normalize_database_url

log = get_logger(__name__)


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as a libpq connection URI."""
    url = make_url(normalize_database_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class RawPool:
    def __init__(self, database_url: str, size: int) -> None:
        self._conninfo = libpq_url(database_url)
        self._size = size
        self._idle: asyncio.LifoQueue[psycopg.AsyncConnection[Any]] = asyncio.LifoQueue()
        self._open = 0
        self._closed = False

    async def _get(self) -> psycopg.AsyncConnection[Any]:
        while True:
            if not self._idle.empty():
                conn = self._idle.get_nowait()
                if not conn.closed:
                    return conn
                self._open -= 1
                continue
            if self._open < self._size:
                self._open += 1
                try:
                    return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                except BaseException:
                    self._open -= 1
                    raise
            return await self._idle.get()

    def _put(self, conn: psycopg.AsyncConnection[Any], *, broken: bool) -> None:
        if broken or conn.closed or self._closed:
            self._open -= 1
            asyncio.ensure_future(conn.close())
            return
        self._idle.put_nowait(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self._get()
        broken = False
        try:
            yield conn
        except BaseException:
            # Unknown state (an error, or a cancel mid-statement): never hand this connection out again.
            broken = True
            raise
        finally:
            self._put(conn, broken=broken)

    async def fetchone(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run one statement; retried once on a connection that turned out dead (the caller's SQL must be
        idempotent: ours is an INSERT ... ON CONFLICT DO NOTHING)."""
        for attempt in (1, 2):
            try:
                async with self.connection() as conn:
                    cur = await conn.execute(sql, params)  # type: ignore[arg-type]
                    return await cur.fetchone()
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                log.warning("raw_connection_lost_retrying")
        return None  # unreachable

    async def close(self) -> None:
        self._closed = True
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            self._open -= 1
            await conn.close()
