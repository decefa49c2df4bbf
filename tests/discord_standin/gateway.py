"""Gateway v10 (JSON encoding, uncompressed text frames): HELLO, IDENTIFY/READY, RESUME, heartbeats,
dispatches with sequence numbers, replay on resume, and test-driven disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .guilds import Guild
from .models import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MEMBERS, INTENT_GUILD_MESSAGES, Json
from .world import World

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
REPLAY_BUFFER = 2000
EVENT_INTENTS = {
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
    "GUILD_MEMBER_ADD": INTENT_GUILD_MEMBERS,
}


@dataclass
class Connection:
    ws: web.WebSocketResponse
    request: web.Request
    path: str
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None
    kind: str = "pending"  # "identify", "resume", "invalid" once the client said who it is
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    close_code: int | None = None
    received: list[Json] = field(default_factory=list)
    sent: list[Json] = field(default_factory=list)  # every payload queued for this connection

    def send(self, payload: Json) -> None:
        self.sent.append(payload)
        self.queue.put_nowait(json.dumps(payload, separators=(",", ":")))


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    sent: deque[tuple[int, Json]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    connection: Connection | None = None


class Gateway:
    def __init__(
        self,
        world: World,
        *,
        resume_url: Callable[[], str],
        heartbeat_interval_ms: int,
        allowed_intents: int | None,
    ) -> None:
        self.world = world
        self._resume_url = resume_url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_intents = allowed_intents
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.connections: list[Connection] = []
        self.ready_count = 0  # READY or RESUMED sent (a bot became able to receive dispatches)

    # -- state for tests -------------------------------------------------------------------------------

    @property
    def live(self) -> Connection | None:
        session = self.current
        if session is None or session.connection is None or session.connection.ws.closed:
            return None
        return session.connection

    def dispatch(self, event: str, data: Json) -> None:
        """Send a DISPATCH to the current session (buffered for replay while it is disconnected)."""
        session = self.current
        if session is None:
            return
        needed = EVENT_INTENTS.get(event)
        if needed == INTENT_GUILD_MESSAGES and "guild_id" not in data:
            needed = INTENT_DIRECT_MESSAGES
        if needed is not None and not session.intents & needed:
            return
        session.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": copy.deepcopy(data)}
        session.sent.append((session.seq, payload))
        if session.connection is not None and not session.connection.ws.closed:
            session.connection.send(payload)

    async def drop(self, *, code: int | None = 1001, mode: str = "close") -> Connection:
        """Disconnect the bot. ``mode``: "close" (close frame with ``code``), "reconnect" (op 7),
        "abrupt" (TCP reset, no close frame), "invalidate" (op 9, not resumable)."""
        connection = self.live
        if connection is None:
            raise RuntimeError("no live gateway connection to drop")
        if mode == "reconnect":
            connection.send({"op": RECONNECT, "d": None, "s": None, "t": None})
        elif mode == "invalidate":
            if connection.session is not None:
                self.sessions.pop(connection.session.id, None)
            connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
        elif mode == "abrupt":
            transport = connection.request.transport
            if transport is not None:
                transport.abort()
        elif mode == "close":
            connection.queue.put_nowait(None)
            await connection.ws.close(code=code or 1000, message=b"stand-in drop")
        else:
            raise ValueError(f"unknown drop mode {mode!r}")
        return connection

    async def close_all(self) -> None:
        for connection in self.connections:
            if not connection.ws.closed:
                connection.queue.put_nowait(None)
                with contextlib.suppress(Exception):
                    await connection.ws.close(code=1001, message=b"stand-in stopping")

    # -- websocket handler ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        connection = Connection(ws, request, request.path)
        self.connections.append(connection)
        writer = asyncio.create_task(self._writer(connection))
        try:
            if request.query.get("v", "10") != "10":
                await ws.close(code=4012, message=b"Invalid API version")
            elif request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Decode error")
            else:
                connection.send(
                    {
                        "op": HELLO,
                        "d": {
                            "heartbeat_interval": self.heartbeat_interval_ms,
                            "_trace": ["standin-gateway"],
                        },
                        "s": None,
                        "t": None,
                    }
                )
                await self._read_loop(connection)
        finally:
            # The socket is gone, so anything still queued cannot be delivered (a resume replays it).
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            connection.closed_at = time.monotonic()
            connection.close_code = ws.close_code
            if connection.session is not None and connection.session.connection is connection:
                connection.session.connection = None
            self.world.notifier.notify()
        return ws

    async def _writer(self, connection: Connection) -> None:
        while (item := await connection.queue.get()) is not None:
            if connection.ws.closed:
                return
            try:
                await connection.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _read_loop(self, connection: Connection) -> None:
        ws = connection.ws
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    await self._fail(connection, 4002, "binary frames are not supported")
                continue
            try:
                payload = json.loads(message.data)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await self._fail(connection, 4002, "Decode error")
                return
            connection.received.append(payload)
            if op == HEARTBEAT:
                connection.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            elif op == IDENTIFY:
                await self._identify(connection, payload.get("d") or {})
            elif op == RESUME:
                await self._resume(connection, payload.get("d") or {})
            elif connection.session is None:
                await self._fail(connection, 4003, "Not authenticated")
            elif op == REQUEST_MEMBERS:
                self._members_chunk(connection, payload.get("d") or {})
            elif op not in (PRESENCE, VOICE_STATE):
                await self._fail(connection, 4001, f"Unknown opcode {op}")
            if ws.closed:
                return

    async def _fail(self, connection: Connection, code: int, reason: str) -> None:
        self.world.violate("gateway", f"closed with {code}: {reason}", path=connection.path)
        connection.queue.put_nowait(None)
        await connection.ws.close(code=code, message=reason.encode())

    async def _identify(self, connection: Connection, data: Json) -> None:
        if connection.session is not None:
            await self._fail(connection, 4005, "Already authenticated")
            return
        if data.get("token") != self.world.token:
            await self._fail(connection, 4004, "Authentication failed")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._fail(connection, 4013, "Invalid intent(s)")
            return
        if self.allowed_intents is not None and intents & ~self.allowed_intents:
            await self._fail(connection, 4014, "Disallowed intent(s)")
            return
        session = Session(secrets.token_hex(16), intents)
        self.sessions[session.id] = session
        self._attach(connection, session, "identify")
        world = self.world
        ready: Json = {
            "v": 10,
            "user": copy.deepcopy(world.bot_user),
            "user_settings": {},
            "guilds": [{"id": guild_id, "unavailable": True} for guild_id in world.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self._resume_url(),
            "application": {"id": world.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["standin"],
            "auth": {},
            "_trace": ["standin-gateway"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        self.dispatch("READY", ready)
        for guild in world.guilds.values():
            self.guild_create(guild, joined=False)
        self._became_live()

    def guild_create(self, guild: Guild, *, joined: bool = True) -> None:
        """GUILD_CREATE for ``guild``: after READY for each guild READY listed as unavailable (then with
        ``unavailable: false``), or when the bot joins a guild while connected (then without the field,
        which is how clients tell a join from a guild becoming available)."""
        session = self.current
        if session is not None:
            all_members = bool(session.intents & INTENT_GUILD_MEMBERS)
            payload = self.world.guild_create_payload(guild, all_members=all_members)
            if joined:
                del payload["unavailable"]
            self.dispatch("GUILD_CREATE", payload)

    async def _resume(self, connection: Connection, data: Json) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.world.token or session is None or not isinstance(data.get("seq"), int):
            connection.kind = "invalid"
            connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        previous = session.connection
        if previous is not None and previous is not connection and not previous.ws.closed:
            previous.queue.put_nowait(None)
            await previous.ws.close(code=4000, message=b"session resumed elsewhere")
        self._attach(connection, session, "resume")
        for seq, payload in list(session.sent):
            if seq > data["seq"]:
                connection.send(payload)
        self.dispatch("RESUMED", {"_trace": ["standin-gateway"]})
        self._became_live()

    def _attach(self, connection: Connection, session: Session, kind: str) -> None:
        connection.session = session
        connection.kind = kind
        session.connection = connection
        self.current = session

    def _became_live(self) -> None:
        self.ready_count += 1
        self.world.notifier.notify()

    def _members_chunk(self, connection: Connection, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        requested = data.get("guild_id")
        for guild_id in requested if isinstance(requested, list) else [requested]:
            guild = self.world.guilds.get(str(guild_id))
            if guild is None:
                continue
            self.dispatch(
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": guild.id,
                    "members": [copy.deepcopy(m) for m in guild.members.values()],
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": data.get("nonce"),
                },
            )
