"""HTTP core: routing, auth, body parsing, schema validation, failure injection and request recording."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from .models import Json, RecordedRequest, Refusal, UploadedFile, error_body
from .spec import SpecValidator, form_errors
from .world import World

API_PREFIX = "/api/v10"
MAX_REQUEST_BYTES = 512 * 1024 * 1024


class ApiError(Exception):
    """Answer the request with a Discord error body; ``kind`` also records a rule violation."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: Json | None = None,
        kind: str | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.kind = kind
        self.note = note or message


@dataclass
class Reply:
    status: int = 200
    body: Any = None


@dataclass
class Ctx:
    request: web.Request
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[UploadedFile]
    arrived: float
    route: str | None


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler
    auth: str  # "bot", "webhook" (token in URL) or "none"
    validated: bool


@dataclass
class Injection:
    """A queued failure: the next ``count`` matching requests get ``status`` instead of being handled."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    retry_after: float
    count: int
    is_global: bool = False
    scope: str = "user"
    hits: list[str] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method in ("*", method) and bool(self.path_regex.search(path))


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{regex}$")


class RestApi:
    def __init__(self, world: World, spec: SpecValidator, attachment_size_limit: int) -> None:
        self.world = world
        self.spec = spec
        self.attachment_size_limit = attachment_size_limit
        self.routes: list[Route] = []
        self.injections: list[Injection] = []

    def add(self, method: str, template: str, handler: Handler, *, auth: str = "bot") -> None:
        """Register ``handler``; ``template`` uses the spec's path syntax so its body schema is found."""
        validated = f"{method} {template}" in self.spec.document["routes"]
        self.routes.append(Route(method, _compile(template), template, handler, auth, validated))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                path_known = True
                if route.method == method:
                    return route, found.groupdict(), True
        return None, {}, path_known

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        method = request.method
        path = request.path[len(API_PREFIX) :] or "/"
        query = dict(request.query)
        route, params, path_known = self._match(method, path)
        route_key = f"{method} {route.template}" if route else None
        body: Any = None
        files: list[UploadedFile] = []
        status = 500
        payload: Any = None
        headers = self._ratelimit_headers(route_key or path)
        try:
            if route is None:
                if path_known:
                    raise ApiError(405, 0, "405: Method Not Allowed", kind="unknown_route")
                raise ApiError(404, 0, "404: Not Found", kind="unknown_route")
            if route.auth == "bot":
                self._check_bot_auth(request)
            body, files = await self._read_body(request)
            injected = self._take_injection(method, path)
            if injected is not None:
                status, payload, extra = self._injected_reply(injected)
                headers.update(extra)
            else:
                if route.validated and body is not None:
                    self._validate(route_key or "", body)
                reply = await route.handler(
                    Ctx(request, method, path, params, query, body, files, arrived, route_key)
                )
                status, payload = reply.status, reply.body
        except ApiError as exc:
            status, payload = exc.status, error_body(exc.code, exc.message, exc.errors)
            if exc.kind is not None:
                self.world.violate(exc.kind, exc.note, method=method, path=path, detail=exc.errors or body)
        if status == 403 and isinstance(payload, dict):
            self.world.refused.append(Refusal(method, path, int(payload.get("code") or 0)))
        self.world.requests.append(
            RecordedRequest(method, path, query, body, files, status, arrived, payload, route_key)
        )
        self.world.notifier.notify()
        if status == 204 or payload is None:
            return web.Response(status=204 if status < 300 else status, headers=headers)
        # discord.py only decodes JSON when Content-Type is exactly "application/json" (no charset).
        data = json.dumps(payload, separators=(",", ":")).encode()
        return web.Response(body=data, status=status, headers=headers, content_type="application/json")

    def _check_bot_auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.world.token}":
            raise ApiError(401, 0, "401: Unauthorized", kind="auth")

    def _take_injection(self, method: str, path: str) -> Injection | None:
        for injection in self.injections:
            if injection.matches(method, path):
                injection.count -= 1
                injection.hits.append(f"{method} {path}")
                return injection
        return None

    def _injected_reply(self, injection: Injection) -> tuple[int, Json, dict[str, str]]:
        if injection.status != 429:
            phrase = HTTPStatus(injection.status).phrase
            return injection.status, error_body(0, f"{injection.status}: {phrase}"), {}
        after = injection.retry_after
        headers = {
            "Retry-After": str(max(1, math.ceil(after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + after:.3f}",
            "X-RateLimit-Reset-After": f"{after:.3f}",
            "X-RateLimit-Scope": "global" if injection.is_global else injection.scope,
        }
        if injection.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": after, "global": injection.is_global}
        return 429, body, headers

    @staticmethod
    def _ratelimit_headers(bucket_source: str) -> dict[str, str]:
        # Generous but realistic headers: discord.py keys its buckets on X-RateLimit-Bucket and treats a
        # 429 as a Cloudflare ban unless a Via header is present.
        return {
            "Via": "1.1 google",
            "X-RateLimit-Bucket": hashlib.sha1(bucket_source.encode()).hexdigest()[:32],
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
        }

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        content_type = request.content_type
        if content_type == "multipart/form-data":
            return await self._read_multipart(request)
        raw = await request.read()
        if not raw:
            return None, []
        if content_type != "application/json":
            raise ApiError(400, 50035, f"Unsupported content type {content_type!r}", kind="content_type")
        return self._parse_json(raw.decode("utf-8", "replace")), []

    @staticmethod
    def _parse_json(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ApiError(
                400, 50109, "The request body contains invalid JSON.", kind="invalid_json"
            ) from exc

    async def _read_multipart(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        reader = await request.multipart()
        body: Any = None
        files: list[UploadedFile] = []
        fields: MultiDict[str] = MultiDict()
        too_large: list[str] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = await part.read()
            if part.filename is not None:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files.append(UploadedFile(name, part.filename or name, content_type, bytes(data)))
                if len(data) > self.attachment_size_limit:
                    too_large.append(part.filename or name)
            elif name == "payload_json":
                body = self._parse_json(bytes(data).decode("utf-8", "replace"))
            else:
                fields.add(name, bytes(data).decode("utf-8", "replace"))
        if too_large:
            raise ApiError(
                413, 40005, "Request entity too large", kind="attachment_size", errors={"files": too_large}
            )
        if body is None and fields:
            body = dict(fields)
        return body, files

    def _validate(self, route_key: str, body: Any) -> None:
        errors = self.spec.errors(route_key, body)
        if errors:
            raise ApiError(400, 50035, "Invalid Form Body", errors=form_errors(errors), kind="schema")
