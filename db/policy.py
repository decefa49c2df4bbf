"""The few settings the queue decides by: quota limits, and lease length and retries for workers."""

from __future__ import annotations

from dataclasses import dataclass

from imaginebot.core.config import QueueSettings, QuotaSettings


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    daily_jobs: int = 25  # jobs a user may start a UTC day (quota.daily_jobs; an admin may override it)
    max_queued: int = 10  # waiting jobs a user may have at once (quota.max_queued)
    max_running: int = 3  # running jobs a user may have at once (quota.max_running)
    lease_seconds: float = 60.0  # a worker's hold on a claimed job without a heartbeat (queue.lease_seconds)
    max_attempts: int = 3  # claims of a job before a lost or crashed one fails for good (queue.max_attempts)
    unserved_after: float = 600.0  # a queued job whose model no worker served this long fails, refunded
    fast_gpu_minutes: float = 0.0  # Fast time a user may spend a UTC day (quota.fast_gpu_minutes); 0 = any
    turbo_factor: float = 2.0  # Fast time a Turbo job costs per GPU second (quota.turbo_factor)
    relax_enabled: bool = True  # used-up Fast time sends jobs to Relax; false: refused (quota.relax_enabled)
    relax_max_wait: float = 600.0  # longest a Relax job waits behind Fast work (queue.relax_max_wait)

    @classmethod
    def from_settings(cls, quota: QuotaSettings, queue: QueueSettings) -> QueuePolicy:
        return cls(
            daily_jobs=quota.daily_jobs,
            max_queued=quota.max_queued,
            max_running=quota.max_running,
            lease_seconds=queue.lease_seconds,
            max_attempts=queue.max_attempts,
            unserved_after=queue.unserved_after,
            fast_gpu_minutes=quota.fast_gpu_minutes,
            turbo_factor=quota.turbo_factor,
            relax_enabled=quota.relax_enabled,
            relax_max_wait=queue.relax_max_wait,
        )
