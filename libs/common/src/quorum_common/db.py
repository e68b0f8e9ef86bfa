"""PostgreSQL access: one async engine per service, confined to the service's own schema.

Each service owns one schema (jobs, workforce, consolidation, ...) in a shared or dedicated database and its
own Alembic tree; `run_migrations` is a separate step (`python -m quorum_<svc> migrate`, an init container
in k8s), never run on import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from quorum_common.settings import normalize_database_url


def make_engine(database_url: str, schema: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        normalize_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"options": f"-csearch_path={schema},public"},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


def run_migrations(database_url: str, schema: str, script_location: Path) -> None:
    """Bring the service's schema to the newest revision (creates the schema if needed)."""
    url = normalize_database_url(database_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    command.upgrade(cfg, "head")


def run_alembic_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py: online migrations inside the service's schema."""
    from alembic import context

    cfg = context.config
    schema = cfg.attributes.get("schema") or target_metadata.schema
    engine = create_engine(cfg.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        connection.execute(text(f'SET search_path TO "{schema}", public'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
