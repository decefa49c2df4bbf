"""The pages: home, the gallery grids (`/me`, and `/all` for operators), a job's page, share links and
the image routes behind them. Who may see what is decided here, once per request: a job is shown to its
owner, to operators, and (read-only, that job alone) to whoever holds a valid share link for it."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from db.records import JobRecord
from imaginebot.core.domain import JobStatus
from web import media
from web.context import Viewer, WebContext, ctx_of, error_page, render, viewer_of
from web.params import KIND_GROUPS, STATUSES, BadParameter, parse_query
from web.present import STATUS_TEXT, full_prompt, parameters, when
from web.signing import ShareInvalid

SHARE_CHOICES = (1, 7, 30, 90)  # days a share link works, offered beside web.share_days


def share_choices(ctx: WebContext) -> list[int]:
    return sorted({*SHARE_CHOICES, ctx.share_days})


MediaHandler = Callable[[web.Request, JobRecord, bool], Awaitable[web.StreamResponse]]


def _sign_in(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")


async def home(request: web.Request) -> web.StreamResponse:
    if viewer_of(request) is not None:
        raise web.HTTPSeeOther("/me")
    return render(request, "home.html", sign_in_ready=ctx_of(request).oauth is not None)


async def health(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n")


async def my_jobs(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if viewer is None:
        return _sign_in(request)
    return await _grid(request, viewer, everyone=False)


async def all_jobs(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if viewer is None:
        return _sign_in(request)
    if not viewer.operator:
        return error_page(request, 403, "Operators only", "Only the bot's operators see everyone's jobs.")
    return await _grid(request, viewer, everyone=True)


async def _grid(request: web.Request, viewer: Viewer, *, everyone: bool) -> web.StreamResponse:
    ctx = ctx_of(request)
    try:
        query = parse_query(request.query, allow_user=everyone)
    except BadParameter as exc:
        return error_page(request, 400, "Bad request", f"{exc}.", back=request.path)
    found = await ctx.gallery.page(
        query.to_filter(None if everyone else viewer.user_id), query.page, ctx.page_size
    )
    if not found.jobs and query.page > 1:
        last = query.link(found.pages)
        return error_page(
            request, 404, "No such page",
            f"Page {query.page} does not exist: there {'is' if found.pages == 1 else 'are'} "
            f"{found.pages} page{'' if found.pages == 1 else 's'} of jobs here.",
            **{"last page": request.path + last},
        )  # fmt: skip
    return render(
        request, "gallery.html", viewer=viewer, page=found, query=query, everyone=everyone,
        kinds=list(KIND_GROUPS), statuses=list(STATUSES), status_text=STATUS_TEXT, when=when,
    )  # fmt: skip


async def _visible_job(request: web.Request, viewer: Viewer) -> JobRecord | web.Response:
    job_id = request.match_info["job_id"]
    job = await ctx_of(request).gallery.job(job_id)
    if job is None or not viewer.may_see(job.user_id):
        return error_page(
            request, 404, "Job not found", f"There is no job {job_id!r} that you can see.", gallery="/me"
        )
    return job


async def job_page(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if viewer is None:
        return _sign_in(request)
    job = await _visible_job(request, viewer)
    if isinstance(job, web.Response):
        return job
    return await _job_view(request, job, viewer=viewer, base=f"/jobs/{job.id}")


async def _job_view(
    request: web.Request,
    job: JobRecord,
    *,
    viewer: Viewer | None,
    base: str,
    share_link: str = "",
    share_expires: str = "",
    unshared: bool = False,
) -> web.Response:
    ctx = ctx_of(request)
    images = await ctx.gallery.image_sizes(job.id)
    parent, children = None, []
    if viewer is not None:  # a share link shows its job alone
        lineage = await ctx.gallery.lineage(job)
        parent = lineage.parent if lineage.parent and viewer.may_see(lineage.parent.user_id) else None
        children = [c for c in lineage.children if viewer.may_see(c.user_id)]
    return render(
        request, "job.html", viewer=viewer, job=job, base=base, images=images, unshared=unshared,
        prompt=full_prompt(job), rows=parameters(job), parent=parent, children=children,
        owner_view=viewer is not None, own=viewer is not None and viewer.user_id == job.user_id,
        share_link=share_link, share_expires=share_expires, share_choices=share_choices(ctx),
        share_days=ctx.share_days, status_text=STATUS_TEXT, succeeded=job.status is JobStatus.SUCCEEDED,
    )  # fmt: skip


async def _job_form(
    request: web.Request, sign_in_to: str
) -> tuple[Viewer, MultiDictProxy[str | bytes | bytearray | web.FileField], JobRecord] | web.Response:
    """A job page's form posted by a signed-in viewer who may see the job, with its csrf token checked;
    otherwise the page that says why."""
    viewer = viewer_of(request)
    if viewer is None:
        return error_page(request, 403, "Not signed in", f"Sign in to {sign_in_to}.", sign_in="/login")
    form = await request.post()
    if not hmac.compare_digest(str(form.get("csrf", "")), viewer.csrf):
        return error_page(
            request, 403, "Form expired", "This form is out of date: reload the page and try again."
        )
    job = await _visible_job(request, viewer)
    if isinstance(job, web.Response):
        return job
    return viewer, form, job


async def create_share(request: web.Request) -> web.StreamResponse:
    posted = await _job_form(request, "share your jobs")
    if isinstance(posted, web.Response):
        return posted
    viewer, form, job = posted
    ctx = ctx_of(request)
    days = str(form.get("days", "")).strip()
    choices = share_choices(ctx)
    if not days.isdigit() or int(days) not in choices:
        allowed = ", ".join(map(str, choices))
        return error_page(
            request, 400, "Bad request", f"days must be one of {allowed}.", back=f"/jobs/{job.id}"
        )
    now = ctx.now()
    expires = now + timedelta(days=int(days))
    link = f"{ctx.public_url}/s/{ctx.signer.share(job.id, expires, now)}"
    return await _job_view(
        request, job, viewer=viewer, base=f"/jobs/{job.id}", share_link=link, share_expires=when(expires)
    )


async def stop_sharing(request: web.Request) -> web.StreamResponse:
    """Every share link of the job made so far stops working (its owner, or an operator taking it down)."""
    posted = await _job_form(request, "manage your jobs")
    if isinstance(posted, web.Response):
        return posted
    viewer, _, job = posted
    ctx = ctx_of(request)
    await ctx.gallery.revoke_shares(job.id, ctx.now())
    return await _job_view(request, job, viewer=viewer, base=f"/jobs/{job.id}", unshared=True)


async def _shared_job(request: web.Request) -> JobRecord | web.Response:
    ctx = ctx_of(request)
    try:
        grant = ctx.signer.read_share(request.match_info["token"])
    except ShareInvalid:
        return error_page(
            request, 403, "Invalid share link",
            "This share link is not valid: it was changed or cut short. Ask the person who shared it for "
            "the whole link.",
        )  # fmt: skip
    if grant.expired(ctx.now()):
        return error_page(
            request, 410, "Share link expired",
            f"This share link expired on {when(grant.expires_at)}. "
            "Ask the person who shared it for a new one.",
        )  # fmt: skip
    revoked = await ctx.gallery.shares_revoked_at(grant.job_id)
    if revoked is not None and grant.issued_at <= revoked:
        return error_page(
            request, 410, "Share link withdrawn", "This job is no longer shared: the link was withdrawn."
        )
    job = await ctx.gallery.job(grant.job_id)
    if job is None:
        return error_page(request, 404, "Job not found", "The shared job no longer exists.")
    return job


async def shared_page(request: web.Request) -> web.StreamResponse:
    job = await _shared_job(request)
    if isinstance(job, web.Response):
        return job
    base = f"/s/{request.match_info['token']}"
    return await _job_view(request, job, viewer=None, base=base)


def owner_media(handler: MediaHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An image route under /jobs/<id>/: for the owner and operators."""

    async def route(request: web.Request) -> web.StreamResponse:
        viewer = viewer_of(request)
        if viewer is None:
            return error_page(request, 403, "Not signed in", "Sign in to see your images.", sign_in="/login")
        job = await _visible_job(request, viewer)
        return job if isinstance(job, web.Response) else await handler(request, job, False)

    return route


def shared_media(handler: MediaHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An image route under /s/<token>/: for whoever holds a valid share link of the job."""

    async def route(request: web.Request) -> web.StreamResponse:
        job = await _shared_job(request)
        return job if isinstance(job, web.Response) else await handler(request, job, True)

    return route


def add_routes(app: web.Application) -> None:
    job = "/jobs/{job_id:[A-Za-z0-9_-]{1,32}}"
    share = "/s/{token:[A-Za-z0-9_.-]{1,400}}"
    app.router.add_get("/", home)
    app.router.add_get("/health", health)
    app.router.add_get("/me", my_jobs)
    app.router.add_get("/all", all_jobs)
    app.router.add_get(job, job_page)
    app.router.add_post(job + "/share", create_share)
    app.router.add_post(job + "/unshare", stop_sharing)
    app.router.add_get(share, shared_page)
    for prefix, wrap in ((job, owner_media), (share, shared_media)):
        app.router.add_get(prefix + "/images/{index:[0-9]{1,2}}.png", wrap(media.full_image))
        app.router.add_get(prefix + "/thumbs/{index:[0-9]{1,2}}.jpg", wrap(media.thumbnail))
        app.router.add_get(prefix + "/grid.png", wrap(media.grid_image))
