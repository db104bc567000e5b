"""What a worker runs for each partition it holds."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class PartitionRuntime:
    """Tracks the partitions this worker runs and the fencing epoch of each."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.running: dict[int, int] = {}

    async def acquired(self, partition: int, epoch: int) -> None:
        """Start running a partition."""
        self.running[partition] = epoch
        log.info("partition %d acquired (epoch %d)", partition, epoch)

    async def lost(self, partition: int, epoch: int, reason: str) -> None:
        """Stop running a partition."""
        self.running.pop(partition, None)
        log.info("partition %d stopped (epoch %d): %s", partition, epoch, reason)
