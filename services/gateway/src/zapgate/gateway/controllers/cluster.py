"""Admin: the cluster, as the workers' leases and heartbeats and the sessions' rows show it."""

from __future__ import annotations

from collections import Counter, defaultdict

from litestar import Controller, get
from pydantic import Field
from sqlalchemy import func, select

from zapgate.gateway.adapters.cluster import ClusterView
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.auth import admin_only
from zapgate.gateway.errors import error_responses
from zapgate.gateway.schemas import Response
from zapgate.gateway.state import GatewayDep


class ClusterWorker(Response):
    """One worker: whether its heartbeat is live, what it holds, its sessions by status."""

    id: str = Field(description="host:pid")
    live: bool = Field(description="Its membership heartbeat has not expired")
    partitions: list[int] = Field(description="The partitions whose lease it holds")
    sessions: int
    statuses: dict[str, int]


class Cluster(Response):
    """Workers, partitions and sessions."""

    partitions: int = Field(description="ZAPGATE_PARTITIONS")
    unheld: list[int] = Field(description="Partitions no worker holds now (their sessions wait for one)")
    workers: list[ClusterWorker]
    sessions: int
    statuses: dict[str, int] = Field(description="Sessions per status, every tenant")


class ClusterController(Controller):
    """``/api/v1/cluster``."""

    path = "/api/v1/cluster"
    tags = ["cluster"]
    guards = [admin_only]

    @get("/", responses=error_responses(401, 403, 503, parameters=False))
    async def get_cluster(self, gateway: GatewayDep) -> Cluster:
        """Admin: the live workers, the partitions each holds, and sessions per worker and status
        (a worker named by sessions but without a heartbeat is listed as not live)."""
        view = ClusterView(gateway.nats, gateway.settings.partitions)
        live, holders = set(await view.workers()), await view.holders()
        async with gateway.sessions() as db:
            rows = (
                await db.execute(
                    select(SessionRow.worker, SessionRow.status, func.count()).group_by(
                        SessionRow.worker, SessionRow.status
                    )
                )
            ).all()
        per_worker: dict[str, Counter[str]] = defaultdict(Counter)
        totals: Counter[str] = Counter()
        for worker, status, count in rows:
            totals[status] += int(count)
            if worker:
                per_worker[worker][status] += int(count)
        held: dict[str, list[int]] = defaultdict(list)
        for partition, worker in sorted(holders.items()):
            held[worker].append(partition)
        names = sorted(live | set(held) | set(per_worker))
        workers = [self._worker(name, name in live, held.get(name, []), per_worker[name]) for name in names]
        unheld = [p for p in range(gateway.settings.partitions) if p not in holders]
        return Cluster(
            partitions=gateway.settings.partitions, unheld=unheld, workers=workers,
            sessions=sum(totals.values()), statuses=dict(totals),
        )  # fmt: skip

    @staticmethod
    def _worker(name: str, live: bool, partitions: list[int], statuses: Counter[str]) -> ClusterWorker:
        return ClusterWorker(
            id=name,
            live=live,
            partitions=partitions,
            sessions=sum(statuses.values()),
            statuses=dict(statuses),
        )
