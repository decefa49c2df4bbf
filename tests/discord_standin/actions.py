"""What a user can do to the bot, in any of its guilds or in a DM: slash commands, autocomplete,
buttons/selects, modals."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from typing import Any

from .command_data import Where, build_command_data
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    build_modal_submit,
    find_component,
)
from .models import ALL_PERMISSIONS, FLAG_EPHEMERAL, Json, user_id_of
from .world import World


class MemberActions:
    """Mixed into ``DiscordStandIn``; builds interactions like Discord's client would and dispatches them."""

    _world: World
    _gateway: Gateway
    callback_deadline: float
    token_ttl: float

    @property
    def attachment_size_limit(self) -> int:
        raise NotImplementedError

    async def wait_ready(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    async def slash(
        self,
        user: Json | str,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
        dm: bool = False,
        force: bool = False,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Invoke ``/command`` (``"admin quota set"`` for subcommands) as ``user`` and dispatch it.

        Where: ``channel_id`` (a guild channel, or the user's DM channel), else ``guild_id``'s default
        channel, else the user's DM with the bot when ``dm``, else the default guild's channel.  Like
        Discord's client, offers only commands usable there (that guild's commands and global ones; in a
        DM global ones allowing DMs) and refuses those the member may not see in that guild
        (``default_member_permissions``) unless ``force``; options are checked against the command."""
        kind = APPLICATION_COMMAND
        where = self._where(user, guild_id, channel_id, dm)
        return await self._command(kind, where, command, options, None, force, timeout)

    async def autocomplete(
        self,
        user: Json | str,
        command: str,
        options: dict[str, Any],
        focused: str,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
        dm: bool = False,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Dispatch an AUTOCOMPLETE interaction while ``user`` types option ``focused`` (where: as for
        ``slash``); the bot's choices land in ``handle.autocomplete_choices``."""
        where = self._where(user, guild_id, channel_id, dm)
        return await self._command(AUTOCOMPLETE, where, command, options, focused, False, timeout)

    def _where(self, user: Json | str, guild_id: str | None, channel_id: str | None, dm: bool) -> Where:
        world = self._world
        user_id = user_id_of(user)
        if user_id not in world.users:
            raise LookupError(f"unknown user {user_id}")
        if dm:
            if guild_id is not None:
                raise ValueError("a DM interaction has no guild")
            dm_channel = world.open_dm(user_id)["id"]
            if channel_id not in (None, dm_channel):
                raise ValueError(f"channel {channel_id} is not {user_id}'s DM channel {dm_channel}")
            channel_id = dm_channel
        elif channel_id is None:
            channel_id = world.guild(guild_id).channel_id
        channel = world.channels.get(channel_id)
        if channel is None:
            raise LookupError(f"unknown channel {channel_id}")
        in_guild = channel.get("guild_id")
        if guild_id is not None and in_guild != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        if in_guild is None and channel["recipients"][0]["id"] != user_id:
            raise PermissionError(f"channel {channel_id} is another user's DM with the bot")
        if in_guild is not None:
            world.guilds[in_guild].member(user_id)  # LookupError unless a member
        return Where(user_id, in_guild, channel_id)

    async def _command(
        self,
        kind: int,
        where: Where,
        command: str,
        options: dict[str, Any] | None,
        focused: str | None,
        force: bool,
        timeout: float,
    ) -> InteractionHandle:
        parts = command.split()
        place = f"guild {where.guild_id}" if where.guild_id else "the bot's DMs"
        found = await self._world.notifier.wait_for(
            lambda: self._world.find_command(parts[0], where.guild_id),
            timeout,
            f"command /{parts[0]} to be registered (usable in {place})",
        )
        required = found.get("default_member_permissions")
        if where.guild_id is not None and required is not None and not force:
            granted = self._world.guilds[where.guild_id].base_permissions(where.user_id)
            if int(required) & ~granted & ALL_PERMISSIONS:
                raise PermissionError(f"/{parts[0]} needs permissions {required}; the member cannot see it")
        data = build_command_data(self._world, where, found, parts[1:], dict(options or {}), focused)
        handle = self._new_interaction(kind, where, data, command_name=parts[0])
        return await self._dispatch(handle, timeout)

    async def press(
        self,
        user: Json | str,
        message: Json,
        label: str | None = None,
        *,
        custom_id: str | None = None,
        values: list[str] | None = None,
        guild_id: str | None = None,
        channel_id: str | None = None,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Click the button (or choose ``values`` in the select menu) found by ``label``/``custom_id``.

        The interaction comes from the message's channel (its guild, or the DM); ``guild_id`` /
        ``channel_id``, when given, must agree with it."""
        current = self._world.messages.get(message["id"])
        if current is None or current["deleted"]:
            raise LookupError(f"message {message['id']} does not exist")
        if channel_id not in (None, current["channel_id"]):
            raise ValueError(f"message {message['id']} is in channel {current['channel_id']}")
        where = self._where(user, guild_id, current["channel_id"], False)
        if current["flags"] & FLAG_EPHEMERAL:
            owner = (current.get("interaction_metadata") or {}).get("user", {}).get("id")
            if owner != where.user_id:
                raise PermissionError(
                    "only the user who received an ephemeral message can use its components"
                )
        component = find_component(current, label=label, custom_id=custom_id)
        if component.get("disabled"):
            raise PermissionError(f"component {label or custom_id!r} is disabled")
        if component.get("type") == 2 and component.get("style") in (5, 6):
            raise ValueError("link and premium buttons do not create interactions")
        data: Json = {"custom_id": component["custom_id"], "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = _select_values(component, list(values or []))
        handle = self._new_interaction(MESSAGE_COMPONENT, where, data, source_message=current)
        return await self._dispatch(handle, timeout)

    async def submit_modal(
        self, user: Json | str, opened_by: InteractionHandle, values: dict[str, str], *, timeout: float = 10.0
    ) -> InteractionHandle:
        """Submit the modal the bot showed in answer to ``opened_by`` with text-input ``values`` (in the
        same channel, so the same guild or DM)."""
        if opened_by.modal is None:
            raise LookupError(f"interaction {opened_by.id} did not open a modal")
        source = self._world.messages.get(opened_by.source_message_id or "")
        data = build_modal_submit(opened_by.modal, values)
        where = self._where(user, None, opened_by.channel_id, False)
        handle = self._new_interaction(MODAL_SUBMIT, where, data, source_message=source)
        return await self._dispatch(handle, timeout)

    def _new_interaction(
        self,
        kind: int,
        where: Where,
        data: Json,
        *,
        source_message: Json | None = None,
        command_name: str | None = None,
    ) -> InteractionHandle:
        return InteractionHandle(
            self._world,
            kind=kind,
            user=self._world.users[where.user_id],
            data=data,
            channel_id=where.channel_id,
            callback_deadline=self.callback_deadline,
            token_ttl=self.token_ttl,
            attachment_size_limit=self.attachment_size_limit,
            source_message=source_message,
            command_name=command_name,
        )

    async def _dispatch(self, handle: InteractionHandle, timeout: float) -> InteractionHandle:
        await self.wait_ready(timeout)
        self._world.interactions[handle.id] = handle
        self._world.interactions_by_token[handle.token] = handle
        handle.dispatched_at = time.monotonic()
        self._gateway.dispatch("INTERACTION_CREATE", handle.payload)
        return handle


def _select_values(component: Json, values: list[str]) -> list[str]:
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(values) <= high:
        raise ValueError(f"select {component['custom_id']!r} takes {low}..{high} values, got {len(values)}")
    if component["type"] == 3:
        allowed = {option["value"] for option in component.get("options") or []}
        if not set(values) <= allowed:
            raise ValueError(f"{sorted(set(values) - allowed)} are not options of {component['custom_id']!r}")
    return values
