"""Simulated people: what happens when someone writes to the bot or presses its button.

Each action creates the update Telegram would send (with the person's `from`, the private
`chat`, a `bot_command` entity for "/start", the full current message of a pressed button),
records it in the chat's event log, and hands it to getUpdates or the webhook.
"""

from __future__ import annotations

import time

from .markup import button_summary, has_callback
from .state import BotState, CallbackRecord, Chat
from .textparse import command_entities
from .updates import update_type


class PersonError(ValueError):
    """A control request that no real person could make (400 for the caller)."""


def say(bot: BotState, user_id: int, text: str, profile: dict) -> dict:
    if not isinstance(text, str) or not text.strip():
        raise PersonError("text must be a non-empty string (Telegram clients do not send empty messages)")
    if len(text) > 4096:
        raise PersonError("text longer than 4096 characters cannot be sent by a Telegram client")
    chat = _chat_of(bot, user_id, profile)
    chat.blocked = False  # writing to a bot one has blocked means pressing "Restart" (unblocking) first
    message = {"message_id": chat.take_message_id(), "from": chat.user, "chat": chat.chat,
               "date": int(time.time()), "text": text}
    entities = command_entities(text)
    if entities:
        message["entities"] = entities
    chat.messages[message["message_id"]] = message
    update = {"update_id": bot.updates.new_id(), "message": message}
    event = chat.log.append("user_message", message_id=message["message_id"], message=message,
                            update_id=update["update_id"])
    queued = bot.deliver(update)
    return {"update_id": update["update_id"], "message_id": message["message_id"], "chat_id": chat.id,
            "seq": event["seq"], "queued": queued}


def press(bot: BotState, user_id: int, message_id: int, data: str, strict: bool = True) -> dict:
    chat = bot.chats.get(user_id)
    if chat is None or not chat.known:
        raise PersonError(f"user {user_id} has never written to this bot, so they see no buttons")
    message = chat.messages.get(message_id)
    if message is None:
        raise PersonError(f"message {message_id} does not exist in chat {user_id} (never sent or deleted)")
    if not message["from"].get("is_bot"):
        raise PersonError(f"message {message_id} in chat {user_id} was written by the person, not the bot")
    if not isinstance(data, str) or not data:
        raise PersonError("data must be a non-empty string")
    if strict and not has_callback(message, data):
        raise PersonError(
            f"message {message_id} has no inline button with callback_data {data!r} now; "
            f"its buttons: {button_summary(message) or 'none'} (pass strict=false to press a stale keyboard)")
    chat.last_active = time.monotonic()
    query_id = bot.new_callback_id(chat.id)
    query = {"id": query_id, "from": chat.user, "message": message, "chat_instance": chat.instance, "data": data}
    update = {"update_id": bot.updates.new_id(), "callback_query": query}
    event = chat.log.append("user_press", message_id=message_id, data=data, callback_query_id=query_id,
                            update_id=update["update_id"])
    queued = bot.deliver(update)
    return {"update_id": update["update_id"], "callback_query_id": query_id, "chat_id": chat.id,
            "seq": event["seq"], "queued": queued}


def inject(bot: BotState, update: object) -> dict:
    """Deliver a raw update as given; its sender becomes a known chat so the bot can answer."""
    if not isinstance(update, dict) or update_type(update) is None:
        raise PersonError("update must be an object with one update field, e.g. {\"message\": {...}}")
    update_id = bot.updates.assign_id(update)
    body = update[update_type(update)]
    chat = None
    if isinstance(body, dict):
        sender = body.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            chat = _chat_of(bot, sender["id"], {k: v for k, v in sender.items() if k != "id"})
        message = body.get("message") if update_type(update) == "callback_query" else body
        if chat is not None and isinstance(message, dict) and isinstance(message.get("message_id"), int):
            if update_type(update) != "callback_query":
                chat.messages[message["message_id"]] = message
            chat.next_message_id = max(chat.next_message_id, message["message_id"] + 1)
        if chat is not None and update_type(update) == "callback_query" and isinstance(body.get("id"), str):
            bot.callbacks[body["id"]] = CallbackRecord(chat.id)
    seq = chat.log.append("user_update", update=update, update_id=update_id)["seq"] if chat else None
    queued = bot.deliver(update)
    return {"update_id": update_id, "seq": seq, "queued": queued}


def _chat_of(bot: BotState, user_id: int, profile: dict) -> Chat:
    chat = bot.chat(user_id)
    chat.set_profile(**profile)
    chat.known = True
    chat.last_active = time.monotonic()  # what the bot sends now is a reply (tgstandin.limits)
    return chat
