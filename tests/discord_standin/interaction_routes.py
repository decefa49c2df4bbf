"""Interaction callbacks and the interaction webhook (followups, @original) routes."""

from __future__ import annotations

import copy

from .interactions import ALLOWED_CALLBACKS, APPLICATION_COMMAND, Callback, InteractionHandle
from .messages import wire_message
from .models import FLAG_EPHEMERAL, FLAG_LOADING, Json, UploadedFile, field_error
from .rest import ApiError, Ctx, Reply, RestApi
from .rules import check_message, is_empty_message
from .world import World

WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
TRUE_VALUES = ("1", "true", "True")


def check_message_body(body: Json, files: list[UploadedFile], *, creating: bool) -> None:
    errors = check_message(body, files)
    if errors:
        raise ApiError(400, 50035, "Invalid Form Body", errors=errors, kind="limit")
    if creating and is_empty_message(body, files):
        raise ApiError(400, 50006, "Cannot send an empty message", kind="empty_message")


class InteractionRoutes:
    def __init__(self, api: RestApi, world: World) -> None:
        self.world = world
        api.add(
            "POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback, auth="none"
        )
        api.add("POST", WEBHOOK, self.followup, auth="none")
        for method, handler in (("GET", self.get), ("PATCH", self.edit), ("DELETE", self.delete)):
            api.add(method, f"{WEBHOOK}/messages/@original", handler, auth="none")
            api.add(method, f"{WEBHOOK}/messages/{{message_id}}", handler, auth="none")

    # -- callback ------------------------------------------------------------------------------------

    async def callback(self, ctx: Ctx) -> Reply:
        ix = self.world.interactions.get(ctx.params["interaction_id"])
        if ix is None or ix.token != ctx.params["interaction_token"] or ix.dispatched_at is None:
            raise ApiError(404, 10062, "Unknown interaction", kind="unknown_interaction")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        callback = Callback(
            body.get("type", 0), body.get("data"), ctx.arrived - ix.dispatched_at, files=ctx.files
        )
        ix.callbacks.append(callback)
        try:
            if callback.elapsed > ix.callback_deadline:
                late = f"{callback.elapsed:.2f}s after dispatch (deadline {ix.callback_deadline:.2f}s)"
                raise ApiError(
                    404,
                    10062,
                    "Unknown interaction",
                    kind="late_callback",
                    note=f"callback {late}",
                )
            if ix.ack is not None:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.", kind="double_ack")
            if callback.type not in ALLOWED_CALLBACKS.get(ix.type, set()):
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    errors=field_error(
                        ["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid response type"
                    ),
                    kind="callback_type",
                    note=f"callback type {callback.type} is not valid for interaction type {ix.type}",
                )
            resource = self._apply(ix, callback)
        except ApiError as exc:
            callback.status = exc.status
            raise
        callback.status = 200
        self.world.notifier.notify()
        if ctx.query.get("with_response") not in TRUE_VALUES:
            return Reply(204)
        original = ix.original
        summary: Json = {
            "id": ix.id,
            "type": ix.type,
            "response_message_loading": callback.type == 5,
            "response_message_ephemeral": bool(original and original["flags"] & FLAG_EPHEMERAL),
        }
        if original is not None and callback.type in (4, 5, 6, 7):
            summary["response_message_id"] = original["id"]
        return Reply(200, {"interaction": summary, "resource": resource})

    def _apply(self, ix: InteractionHandle, callback: Callback) -> Json:
        data = callback.data if isinstance(callback.data, dict) else {}
        kind = callback.type
        message_type = 20 if ix.type == APPLICATION_COMMAND else 0
        resource: Json = {"type": kind}
        if kind == 4:
            check_message_body(data, callback.files, creating=True)
            message = self.world.create_message(
                ix.channel_id, data, callback.files, message_type=message_type, interaction=ix
            )
            ix.original_id = message["id"]
            resource["message"] = wire_message(message)
        elif kind == 5:
            flags = FLAG_LOADING | ((data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self.world.create_message(
                ix.channel_id, {}, [], flags=flags, message_type=message_type, interaction=ix
            )
            ix.original_id = message["id"]
        elif kind in (6, 7):
            source = self.world.messages.get(ix.source_message_id or "")
            if source is None:
                raise ApiError(
                    400, 50035, "Invalid Form Body", kind="callback_type", note="no message to update"
                )
            if kind == 7:
                check_message_body(data, callback.files, creating=False)
                self.world.edit_message(source, data, callback.files)
                resource["message"] = wire_message(source)
            ix.original_id = source["id"]
        elif kind == 8:
            ix.autocomplete_choices = copy.deepcopy(data.get("choices") or [])
        elif kind == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    kind="modal",
                    note="modal needs custom_id/title/components",
                )
            ix.modal = copy.deepcopy(data)
        return resource

    # -- interaction webhook -------------------------------------------------------------------------

    def _interaction(self, ctx: Ctx) -> InteractionHandle:
        if ctx.params["webhook_id"] != self.world.application_id:
            raise ApiError(404, 10015, "Unknown Webhook", kind="unknown_webhook")
        ix = self.world.interactions_by_token.get(ctx.params["webhook_token"])
        if ix is None:
            raise ApiError(401, 50027, "Invalid Webhook Token", kind="invalid_token")
        if ix.expired:
            raise ApiError(
                401,
                50027,
                "Invalid Webhook Token",
                kind="expired_token",
                note=f"interaction token used {ix.elapsed():.1f}s after dispatch (ttl {ix.token_ttl:.1f}s)",
            )
        if ix.ack is None:
            raise ApiError(
                404,
                10015,
                "Unknown Webhook",
                kind="not_acknowledged",
                note="webhook used before the interaction was acked",
            )
        return ix

    def _message(self, ctx: Ctx, ix: InteractionHandle) -> Json:
        message_id = ctx.params.get("message_id") or ix.original_id
        message = self.world.messages.get(message_id or "")
        if (
            message is None
            or message["deleted"]
            or (message is not ix.original and message_id not in ix.followup_ids)
        ):
            raise ApiError(404, 10008, "Unknown Message", kind="unknown_message")
        return message

    async def followup(self, ctx: Ctx) -> Reply:
        ix = self._interaction(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        check_message_body(body, ctx.files, creating=True)
        original = ix.original
        ack = ix.ack
        if ack is not None and ack.type == 5 and original is not None and original["flags"] & FLAG_LOADING:
            # Discord turns the first followup after a "thinking" defer into the original response.
            edit = {k: v for k, v in body.items() if k != "flags"}
            message = self.world.edit_message(original, edit, ctx.files)
        else:
            message = self.world.create_message(ix.channel_id, body, ctx.files, interaction=ix)
            ix.followup_ids.append(message["id"])
        if ctx.query.get("wait") in TRUE_VALUES:
            return Reply(200, wire_message(message))
        return Reply(204)

    async def get(self, ctx: Ctx) -> Reply:
        ix = self._interaction(ctx)
        return Reply(200, wire_message(self._message(ctx, ix)))

    async def edit(self, ctx: Ctx) -> Reply:
        ix = self._interaction(ctx)
        message = self._message(ctx, ix)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        check_message_body(body, ctx.files, creating=False)
        return Reply(200, wire_message(self.world.edit_message(message, body, ctx.files)))

    async def delete(self, ctx: Ctx) -> Reply:
        ix = self._interaction(ctx)
        self.world.delete_message(self._message(ctx, ix))
        return Reply(204)
