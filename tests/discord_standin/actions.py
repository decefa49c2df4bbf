"""What a guild member can do to the bot: slash commands, autocomplete, buttons/selects, modals."""

# Explicit timeouts are part of the test-facing API (every wait fails loudly instead of hanging).
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from typing import Any

from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    build_command_data,
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

    @property
    def channel_id(self) -> str:
        raise NotImplementedError

    def permissions(self, user: Json | str) -> int:
        raise NotImplementedError

    async def wait_ready(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    async def slash(
        self,
        user: Json | str,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel_id: str | None = None,
        force: bool = False,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Invoke ``/command`` (``"admin quota set"`` for subcommands) as ``user`` and dispatch it.

        Like Discord's client, refuses commands the member may not see (``default_member_permissions``)
        unless ``force``; options are checked against the registered command."""
        kind = APPLICATION_COMMAND
        return await self._command(kind, user, command, options, None, channel_id, force, timeout)

    async def autocomplete(
        self,
        user: Json | str,
        command: str,
        options: dict[str, Any],
        focused: str,
        *,
        channel_id: str | None = None,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Dispatch an AUTOCOMPLETE interaction while ``user`` types option ``focused``; the bot's
        choices land in ``handle.autocomplete_choices``."""
        return await self._command(AUTOCOMPLETE, user, command, options, focused, channel_id, False, timeout)

    async def _command(
        self,
        kind: int,
        user: Json | str,
        command: str,
        options: dict[str, Any] | None,
        focused: str | None,
        channel_id: str | None,
        force: bool,
        timeout: float,
    ) -> InteractionHandle:
        parts = command.split()
        found = await self._world.notifier.wait_for(
            lambda: self._world.find_command(parts[0]), timeout, f"command /{parts[0]} to be registered"
        )
        member_id = user_id_of(user)
        required = found.get("default_member_permissions")
        missing = 0 if required is None else int(required) & ~self.permissions(member_id) & ALL_PERMISSIONS
        if missing and not force:
            raise PermissionError(f"/{parts[0]} needs permissions {required}; the member cannot see it")
        data = build_command_data(self._world, found, parts[1:], dict(options or {}), focused)
        target = channel_id or self.channel_id
        handle = self._new_interaction(kind, member_id, data, target, command_name=parts[0])
        return await self._dispatch(handle, timeout)

    async def press(
        self,
        user: Json | str,
        message: Json,
        label: str | None = None,
        *,
        custom_id: str | None = None,
        values: list[str] | None = None,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Click the button (or choose ``values`` in the select menu) found by ``label``/``custom_id``."""
        current = self._world.messages.get(message["id"])
        if current is None or current["deleted"]:
            raise LookupError(f"message {message['id']} does not exist")
        member_id = user_id_of(user)
        if current["flags"] & FLAG_EPHEMERAL:
            owner = (current.get("interaction_metadata") or {}).get("user", {}).get("id")
            if owner != member_id:
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
        handle = self._new_interaction(
            MESSAGE_COMPONENT, member_id, data, current["channel_id"], source_message=current
        )
        return await self._dispatch(handle, timeout)

    async def submit_modal(
        self, user: Json | str, opened_by: InteractionHandle, values: dict[str, str], *, timeout: float = 10.0
    ) -> InteractionHandle:
        """Submit the modal the bot showed in answer to ``opened_by`` with text-input ``values``."""
        if opened_by.modal is None:
            raise LookupError(f"interaction {opened_by.id} did not open a modal")
        source = self._world.messages.get(opened_by.source_message_id or "")
        data = build_modal_submit(opened_by.modal, values)
        handle = self._new_interaction(
            MODAL_SUBMIT, user_id_of(user), data, opened_by.channel_id, source_message=source
        )
        return await self._dispatch(handle, timeout)

    def _new_interaction(
        self,
        kind: int,
        user_id: str,
        data: Json,
        channel_id: str,
        *,
        source_message: Json | None = None,
        command_name: str | None = None,
    ) -> InteractionHandle:
        if user_id not in self._world.members:
            raise LookupError(f"user {user_id} is not a member of the guild")
        return InteractionHandle(
            self._world,
            kind=kind,
            user=self._world.users[user_id],
            data=data,
            channel_id=channel_id,
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
