"""`imaginebot jobs`: the job history, newest first."""

from __future__ import annotations

import argparse
import json

from db.queue import Queue
from imaginebot.app import messages, tables
from imaginebot.app.common import fail, guarded, with_queue
from imaginebot.core.config import load_settings
from imaginebot.core.domain import JobStatus


def run_jobs(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)

    async def action(queue: Queue) -> int:
        if args.limit < 1:
            return fail("--limit must be 1 or more")
        if args.user is not None and not await queue.reads.user_exists(args.user):
            return fail(messages.unknown_user(args.user))
        status = JobStatus(args.status) if args.status else None
        jobs = await queue.reads.history(user=args.user, status=status, limit=args.limit)
        if args.json:  # the history's lines also carry each job's GPU seconds
            for job in jobs:
                print(json.dumps(job.history_json()))
        else:
            tables.print_jobs(jobs, as_json=False, empty="no jobs")
        return 0

    return guarded(lambda: with_queue(settings, action))
