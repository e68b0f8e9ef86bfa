"""The gateway's backend connections: one long-lived grpc.aio channel per service, shared by all requests.

Routes call the generated stubs directly and pass the deadline held here (`timeout=clients.deadline_s`),
so there is no per-call wrapper or interceptor cost. Tests build `GrpcClients` with fake stubs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from quorum.consolidation.v1 import consolidation_pb2_grpc
from quorum.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from quorum.workforce.v1 import workforce_pb2_grpc
from quorum_gateway.settings import GatewaySettings

# Room for the protobuf framing around a manifest of max_manifest_bytes.
_MESSAGE_SLACK_BYTES = 4 * 1024 * 1024
_MAX_RECEIVE_BYTES = 64 * 1024 * 1024


@dataclass
class GrpcClients:
    """Stubs of the three backends, their health stubs (for /readyz) and the deadlines calls use."""

    jobs: Any  # jobs_pb2_grpc.JobsServiceStub (Any: tests pass fakes)
    workforce: Any  # workforce_pb2_grpc.WorkforceServiceStub
    consolidation: Any  # consolidation_pb2_grpc.ConsolidationServiceStub
    health: Mapping[str, Any] = field(default_factory=dict)  # backend name -> grpc health stub
    deadline_s: float = 10.0
    upload_deadline_s: float = 300.0
    stream_deadline_s: float = 900.0
    readiness_timeout_s: float = 2.0
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    @classmethod
    def connect(cls, settings: GatewaySettings) -> GrpcClients:
        """Open the channels (lazily connecting; must run inside the event loop that will use them)."""
        options = [
            ("grpc.max_send_message_length", settings.max_manifest_bytes + _MESSAGE_SLACK_BYTES),
            ("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES),
            ("grpc.primary_user_agent", "quorum-gateway"),
        ]
        addrs = {
            "jobs": settings.jobs_addr,
            "workforce": settings.workforce_addr,
            "consolidation": settings.consolidation_addr,
        }
        channels = {name: grpc.aio.insecure_channel(addr, options=options) for name, addr in addrs.items()}
        return cls(
            jobs=jobs_pb2_grpc.JobsServiceStub(channels["jobs"]),
            workforce=workforce_pb2_grpc.WorkforceServiceStub(channels["workforce"]),
            consolidation=consolidation_pb2_grpc.ConsolidationServiceStub(channels["consolidation"]),
            health={name: health_pb2_grpc.HealthStub(channel) for name, channel in channels.items()},
            deadline_s=settings.grpc_deadline_s,
            upload_deadline_s=settings.grpc_upload_deadline_s,
            stream_deadline_s=settings.grpc_stream_deadline_s,
            readiness_timeout_s=settings.readiness_timeout_s,
            channels=list(channels.values()),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(grace=1.0)
        self.channels.clear()


async def requester_jobs(
    clients: GrpcClients, requester_id: str, max_pages: int
) -> AsyncIterator[jobs_pb2.Job]:
    """A requester's jobs, paging through ListJobs (200 a page, at most `max_pages` pages)."""
    token = ""
    for _ in range(max_pages):
        resp = await clients.jobs.ListJobs(
            jobs_pb2.ListJobsRequest(requester_id=requester_id, page_size=200, page_token=token),
            timeout=clients.deadline_s,
        )
        for job in resp.jobs:
            yield job
        token = resp.next_page_token
        if not token:
            return
