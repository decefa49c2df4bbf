"""The bot's wording of what the queue reports as data: refusals, unknown jobs and users, failed jobs.

These are the sentences users have always seen (they used to be built inside db/); a change here is a
change users notice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import messages
from db.errors import (
    Banned,
    JobNotFound,
    QueueFull,
    QueuePaused,
    QueueRefusal,
    QuotaExceeded,
    SourceImageMissing,
    UserNotFound,
)
from imaginebot.core.domain import Failure

RESETS = datetime(2026, 11, 25, tzinfo=UTC)
REFUNDED = " Your quota for it was refunded."


@pytest.mark.parametrize(
    ("refusal", "text"),
    [
        (
            Banned("spam"),
            "You are banned from generating images (reason: spam). "
            "Ask a server admin if you think this is a mistake.",
        ),
        (
            Banned(None),
            "You are banned from generating images. Ask a server admin if you think this is a mistake.",
        ),
        (
            QuotaExceeded(25, 25, 1, RESETS),
            "You have used 25 of your 25 jobs for today. "
            "Your quota resets at 2026-11-25 00:00 UTC — try again then.",
        ),
        (
            QuotaExceeded(23, 25, 4, RESETS),
            "You have used 23 of your 25 jobs for today; this request needs 4 and you have 2 left. "
            "Your quota resets at 2026-11-25 00:00 UTC — try again then.",
        ),
        (
            QueueFull(1, 1, 1),
            "You already have 1 job waiting (at most 1 at once). "
            "Wait until some of them start, then try again.",
        ),
        (
            QueueFull(9, 10, 4),
            "You already have 9 jobs waiting (at most 10 at once; this request adds 4). "
            "Wait until some of them start, then try again.",
        ),
        (QueuePaused(), "The queue is paused by an admin, so no new jobs are accepted. Try again later."),
        (
            SourceImageMissing("abc", 3),
            "Image 3 of job abc is not available (the job did not finish, or it has no such image). "
            "Use the buttons of a finished result.",
        ),
    ],
)
def test_refusals_are_worded_for_the_user(refusal: QueueRefusal, text: str) -> None:
    assert messages.refusal(refusal) == text
    assert messages.refused(messages.refusal(refusal)) == "⚠️ " + text


def test_unknown_jobs_and_users() -> None:
    assert messages.not_found(JobNotFound("nosuchjob123")) == "no job with id 'nosuchjob123'"
    assert messages.not_found(UserNotFound(42)) == "unknown user 42: they have never used the bot"


@pytest.mark.parametrize(
    ("failure", "detail", "text"),
    [
        (Failure.ENGINE_FAILED, "out of memory.", "The image generator failed: out of memory." + REFUNDED),
        (Failure.ENGINE_FAILED, "CUDA error", "The image generator failed: CUDA error." + REFUNDED),
        (Failure.ENGINE_ERROR, None, "The image generator hit an unexpected error." + REFUNDED),
        (Failure.NO_IMAGES, None, "The image generator returned no images." + REFUNDED),
        (
            Failure.WORKER_LOST,
            "3",
            "The worker generating this job stopped responding, 3 times; the job was given up." + REFUNDED,
        ),
        (Failure.BANNED, None, "Cancelled: you were banned from generating images."),
        # Rows from before jobs.failure carry their sentence in `error`.
        (
            None,
            "The image generator returned no images." + REFUNDED,
            "The image generator returned no images." + REFUNDED,
        ),
        (None, None, "The job failed."),
    ],
)
def test_failures_are_worded_for_the_user(failure: Failure | None, detail: str | None, text: str) -> None:
    assert messages.failure(failure, detail) == text
