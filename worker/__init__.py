"""The worker: claim a fair batch of compatible jobs → generate → store, with leases and retries.

It imports `imaginebot.core` and `db` and gets its engine through `imaginebot.core.domain.AsyncEngine`
(gen's `ThreadedEngine` in production, a fake in tests): it never imports `gen`, torch or diffusers.
Start at `worker.loop.Worker`.
"""
