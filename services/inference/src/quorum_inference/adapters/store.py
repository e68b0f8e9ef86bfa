"""Model versions in the inference schema."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum_common.db import transaction
from quorum_inference.adapters.tables import model_versions
from quorum_inference.core.metrics import ModelMetrics
from quorum_inference.core.types import ModelVersion, metrics_from_json, metrics_to_json


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(
        model_id=row.model_id,
        job_id=row.job_id,
        version=row.version,
        modality=row.modality,
        categories=list(row.categories),
        metrics=metrics_from_json(row.metrics),
        weights_path=row.weights_path,
        arch=dict(row.arch),
        warm_start_model_id=row.warm_start_model_id,
        created_at_ms=int(row.created_at.timestamp() * 1000),
    )


class ModelStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def next_version(self, job_id: str) -> int:
        async with self._sessions() as session:
            current = await session.scalar(
                select(func.max(model_versions.c.version)).where(model_versions.c.job_id == job_id)
            )
        return int(current or 0) + 1

    async def add(
        self,
        *,
        job_id: str,
        version: int,
        modality: str,
        categories: list[str],
        arch: dict[str, Any],
        metrics: ModelMetrics,
        weights_path: str,
        warm_start_model_id: str | None,
    ) -> ModelVersion:
        model_id = uuid.uuid4().hex
        async with transaction(self._sessions) as session:
            await session.execute(
                insert(model_versions).values(
                    model_id=model_id,
                    job_id=job_id,
                    version=version,
                    modality=modality,
                    categories=categories,
                    arch=arch,
                    metrics=metrics_to_json(metrics),
                    weights_path=weights_path,
                    warm_start_model_id=warm_start_model_id,
                )
            )
        found = await self.get_by_id(model_id)
        assert found is not None
        return found

    async def get(self, job_id: str, version: int | None) -> ModelVersion | None:
        """A job's version, or its latest when `version` is None."""
        query = select(model_versions).where(model_versions.c.job_id == job_id)
        if version is None:
            query = query.order_by(model_versions.c.version.desc()).limit(1)
        else:
            query = query.where(model_versions.c.version == version)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return _row_to_version(row) if row else None

    async def get_by_id(self, model_id: str) -> ModelVersion | None:
        async with self._sessions() as session:
            row = (
                await session.execute(select(model_versions).where(model_versions.c.model_id == model_id))
            ).first()
        return _row_to_version(row) if row else None

    async def list_job(self, job_id: str) -> list[ModelVersion]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(model_versions)
                    .where(model_versions.c.job_id == job_id)
                    .order_by(model_versions.c.version)
                )
            ).all()
        return [_row_to_version(r) for r in rows]
