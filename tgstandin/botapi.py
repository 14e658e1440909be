"""The Bot API methods the stand-in implements, with Telegram's checks and error texts.

Each method takes (server state, bot state, params) and returns the `result` of the envelope
or raises ApiError. Everything the bot does in a chat is also appended to that chat's event
log, which is what tests and load tests read back.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp

from . import errors as E
from .errors import ApiError, bad_request
from .markup import read_reply_markup
from .media import DOCUMENT_MAX_BYTES
from .params import CLIENT_CONNECTED, Params
from .state import BotState, Chat, StandinState
from .textparse import format_text
from .updates import DEFAULT_ALLOWED
from .webhook import WebhookConfig, check_certificate

MAX_TEXT = 4096
MAX_CAPTION = 1024
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})


class Described:
    """A result with the optional `description` Telegram adds to some successful answers."""

    __slots__ = ("description", "result")

    def __init__(self, result: object, description: str) -> None:
        self.result = result
        self.description = description


Method = Callable[[StandinState, BotState, Params], Awaitable[object]]
METHODS: dict[str, tuple[str, Method]] = {}


def method(name: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        METHODS[name.lower()] = (name, fn)
        return fn
    return register


# --- shared checks ---------------------------------------------------------------------------

def _chat_id(params: Params) -> object:
    raw = params.raw("chat_id")
    if raw is None or raw == "":
        raise bad_request(E.CHAT_ID_EMPTY)
    return raw


def _known_chat(bot: BotState, raw_chat_id: object) -> Chat:
    """The chat a bot may write to: a person must have written to the bot first."""
    try:
        chat_id = int(raw_chat_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise bad_request(E.CHAT_NOT_FOUND) from None
    chat = bot.chats.get(chat_id)
    if chat is None or not chat.known:
        raise bad_request(E.CHAT_NOT_FOUND)
    if chat.blocked:
        raise ApiError(403, E.BLOCKED)
    return chat


def _message_text(params: Params) -> tuple[str, list[dict]]:
    raw = params.get_str("text")
    if raw is None:
        raise bad_request(E.TEXT_EMPTY)
    text, entities = format_text(raw, params.get_str("parse_mode"), params.get_json("entities"))
    if not text:
        raise bad_request(E.TEXT_EMPTY)
    if len(text) > MAX_TEXT:
        raise bad_request(E.TEXT_TOO_LONG)
    return text, entities


def _caption(params: Params) -> tuple[str, list[dict]]:
    raw = params.get_str("caption")
    if raw is None:
        return "", []
    caption, entities = format_text(raw, params.get_str("parse_mode"), params.get_json("caption_entities"))
    if len(caption) > MAX_CAPTION:
        raise bad_request(E.CAPTION_TOO_LONG)
    return caption, entities


def _reply_to(chat: Chat, params: Params) -> dict | None:
    reply = params.get_json("reply_parameters")
    message_id = reply.get("message_id") if isinstance(reply, dict) else params.get_int("reply_to_message_id")
    if message_id is None:
        return None
    target = chat.messages.get(message_id)
    allow = (reply.get("allow_sending_without_reply") if isinstance(reply, dict)
             else params.get_bool("allow_sending_without_reply"))
    if target is None and not allow:
        raise bad_request("message to be replied not found")
    if target is None:
        return None
    return {k: v for k, v in target.items() if k != "reply_to_message"}


def _put(message: dict, key: str, value: object) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


def _new_message(bot: BotState, chat: Chat, params: Params, inline: dict | None, raw_markup: dict | None,
                 content: dict) -> dict:
    reply_to = _reply_to(chat, params)  # may fail: before a message_id is used up
    message = {"message_id": chat.take_message_id(), "from": bot.user, "chat": chat.chat,
               "date": int(time.time())}
    if reply_to:
        message["reply_to_message"] = reply_to
    for key, value in content.items():
        _put(message, key, value)
    if params.get_bool("protect_content"):
        message["has_protected_content"] = True
    if inline:
        message["reply_markup"] = inline
    chat.messages[message["message_id"]] = message
    chat.log.append("message", message_id=message["message_id"], message=message, reply_markup=raw_markup)
    return message


def _target_message(bot: BotState, params: Params, missing: str) -> tuple[Chat, dict]:
    """The bot message an edit refers to (chat_id + message_id)."""
    if params.raw("inline_message_id") is not None:
        raise bad_request("MESSAGE_ID_INVALID")
    chat = _known_chat(bot, _chat_id(params))
    message_id = params.get_int("message_id", error=E.MESSAGE_ID_MISSING)
    if message_id is None:
        raise bad_request(E.MESSAGE_ID_MISSING)
    message = chat.messages.get(message_id)
    if message is None:
        raise bad_request(missing)
    return chat, message


def _store_edit(chat: Chat, new: dict) -> dict:
    new["edit_date"] = int(time.time())
    chat.messages[new["message_id"]] = new
    chat.log.append("edit", message_id=new["message_id"], message=new)
    return new


# --- identity and updates --------------------------------------------------------------------

@method("getMe")
async def get_me(state: StandinState, bot: BotState, params: Params) -> object:
    return {**bot.user, "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}


@method("logOut")
async def log_out(state: StandinState, bot: BotState, params: Params) -> object:
    return True


@method("close")
async def close(state: StandinState, bot: BotState, params: Params) -> object:
    return True


@method("getUpdates")
async def get_updates(state: StandinState, bot: BotState, params: Params) -> object:
    if bot.webhook is not None:
        raise ApiError(409, E.CONFLICT_WEBHOOK)
    offset = params.get_int("offset", 0) or 0
    limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
    timeout = max(params.get_float("timeout", 0.0) or 0.0, 0.0)
    bot.updates.set_allowed(params.get_json("allowed_updates"))
    return await bot.updates.get(offset, limit, timeout, CLIENT_CONNECTED.get())


@method("setWebhook")
async def set_webhook(state: StandinState, bot: BotState, params: Params) -> object:
    url = params.get_str("url", "") or ""
    if not url:
        return await _delete_webhook(bot, params)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if not parts.hostname:
        raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
    secret = params.get_str("secret_token")
    if secret is not None and (not 1 <= len(secret) <= 256
                               or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)):
        raise bad_request("secret token contains unallowed characters")
    max_connections = min(max(params.get_int("max_connections", 40) or 40, 1), 100)
    certificate = None
    upload = params.get_upload("certificate")
    if upload is not None:
        try:
            certificate = check_certificate(upload.data)
        except ValueError:
            raise bad_request("bad webhook: Failed to set custom certificate file") from None
    bot.updates.set_allowed(params.get_json("allowed_updates"))
    if params.get_bool("drop_pending_updates"):
        bot.updates.drop_all()
    config = WebhookConfig(url, secret, max_connections, params.get_str("ip_address"), certificate)
    same = bot.webhook is not None and (bot.webhook.url, bot.webhook.secret_token, bot.webhook.max_connections,
                                        bot.webhook.certificate) == (url, secret, max_connections, certificate)
    bot.updates.terminate_poll("Conflict: terminated by setWebhook request")
    if not same:
        await bot.set_webhook(config)
    return Described(True, "Webhook is already set" if same else "Webhook was set")


async def _delete_webhook(bot: BotState, params: Params) -> object:
    if params.get_bool("drop_pending_updates"):
        bot.updates.drop_all()
    if bot.webhook is None:
        return Described(True, "Webhook is already deleted")
    await bot.set_webhook(None)
    return Described(True, "Webhook was deleted")


@method("deleteWebhook")
async def delete_webhook(state: StandinState, bot: BotState, params: Params) -> object:
    return await _delete_webhook(bot, params)


@method("getWebhookInfo")
async def get_webhook_info(state: StandinState, bot: BotState, params: Params) -> object:
    pending = len(bot.updates.pending)
    if bot.webhook is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
    allowed = None if bot.updates.allowed == DEFAULT_ALLOWED else bot.updates.allowed
    return bot.webhook.info(pending, allowed)


# --- sending and editing ---------------------------------------------------------------------

@method("sendMessage")
async def send_message(state: StandinState, bot: BotState, params: Params) -> object:
    chat_id = _chat_id(params)
    inline, raw_markup = read_reply_markup(params)
    text, entities = _message_text(params)
    chat = _known_chat(bot, chat_id)
    return _new_message(bot, chat, params, inline, raw_markup, {"text": text, "entities": entities})


@method("sendPhoto")
async def send_photo(state: StandinState, bot: BotState, params: Params) -> object:
    chat_id = _chat_id(params)
    inline, raw_markup = read_reply_markup(params)
    caption, entities = _caption(params)
    chat = _known_chat(bot, chat_id)
    stored = await _photo_file(state, params)
    return _new_message(bot, chat, params, inline, raw_markup, {
        "photo": [stored.photo_size()], "caption": caption, "caption_entities": entities,
        "has_media_spoiler": params.get_bool("has_spoiler"),
        "show_caption_above_media": params.get_bool("show_caption_above_media"),
    })


async def _sent_file(state: StandinState, params: Params, field: str, store_upload, store_download):
    """The file of a send* call, as Telegram takes one: a multipart upload (also named by attach://),
    an HTTP URL to download, or the file_id of a file sent before. store_upload(upload) and
    store_download(data, url) keep a new one."""
    upload = params.get_upload(field)
    reference = None if upload else params.get_str(field)
    if reference and reference.startswith("attach://"):
        upload = params.get_upload(reference.removeprefix("attach://"))
        if upload is None:
            raise bad_request("wrong remote file identifier specified: can't unserialize it")
    if upload is not None:
        if not upload.data:
            raise bad_request("file must be non-empty")
        return store_upload(upload)
    if not reference:
        raise bad_request(f"there is no {field} in the request")
    if reference.startswith(("http://", "https://")):
        return store_download(await _download(state, reference), reference)
    stored = state.files.by_id.get(reference)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


async def _photo_file(state: StandinState, params: Params):
    return await _sent_file(state, params, "photo", lambda upload: state.files.add_photo(upload.data),
                            lambda data, url: state.files.add_photo(data))


async def _download(state: StandinState, url: str) -> bytes:
    try:
        async with state.http().get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            if response.status != 200:
                raise bad_request("failed to get HTTP URL content")
            data = await response.read()
    except (aiohttp.ClientError, TimeoutError):
        raise bad_request("failed to get HTTP URL content") from None
    if not data:
        raise bad_request("failed to get HTTP URL content")
    return data


@method("sendDocument")
async def send_document(state: StandinState, bot: BotState, params: Params) -> object:
    chat_id = _chat_id(params)
    inline, raw_markup = read_reply_markup(params)
    caption, entities = _caption(params)
    chat = _known_chat(bot, chat_id)
    stored = await _document_file(state, params)
    return _new_message(bot, chat, params, inline, raw_markup, {
        "document": stored.document(), "caption": caption, "caption_entities": entities,
    })


async def _document_file(state: StandinState, params: Params):
    def upload_of(upload):
        if len(upload.data) > DOCUMENT_MAX_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return state.files.add_document(upload.data, upload.filename, upload.content_type)

    return await _sent_file(state, params, "document", upload_of, lambda data, url: state.files.add_document(
        data, urlsplit(url).path.rsplit("/", 1)[-1] or None, None))


@method("editMessageText")
async def edit_message_text(state: StandinState, bot: BotState, params: Params) -> object:
    inline, _ = read_reply_markup(params)
    text, entities = _message_text(params)
    chat, old = _target_message(bot, params, E.EDIT_NOT_FOUND)
    if not old["from"].get("is_bot"):
        raise bad_request(E.CANT_EDIT)
    if "text" not in old:
        raise bad_request(E.NO_TEXT_TO_EDIT)
    if old["text"] == text and old.get("entities", []) == entities and old.get("reply_markup") == inline:
        raise bad_request(E.NOT_MODIFIED)
    new = dict(old)
    _put(new, "text", text)
    _put(new, "entities", entities)
    _put(new, "reply_markup", inline)
    return _store_edit(chat, new)


@method("editMessageCaption")
async def edit_message_caption(state: StandinState, bot: BotState, params: Params) -> object:
    inline, _ = read_reply_markup(params)
    caption, entities = _caption(params)
    chat, old = _target_message(bot, params, E.EDIT_NOT_FOUND)
    if not old["from"].get("is_bot"):
        raise bad_request(E.CANT_EDIT)
    if "text" in old:
        raise bad_request(E.NO_CAPTION_TO_EDIT)
    if (old.get("caption", "") == caption and old.get("caption_entities", []) == entities
            and old.get("reply_markup") == inline):
        raise bad_request(E.NOT_MODIFIED)
    new = dict(old)
    _put(new, "caption", caption)
    _put(new, "caption_entities", entities)
    _put(new, "reply_markup", inline)
    return _store_edit(chat, new)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(state: StandinState, bot: BotState, params: Params) -> object:
    inline, _ = read_reply_markup(params)
    chat, old = _target_message(bot, params, E.EDIT_NOT_FOUND)
    if not old["from"].get("is_bot"):
        raise bad_request(E.CANT_EDIT)
    if old.get("reply_markup") == inline:
        raise bad_request(E.NOT_MODIFIED)
    new = dict(old)
    _put(new, "reply_markup", inline)
    return _store_edit(chat, new)


@method("deleteMessage")
async def delete_message(state: StandinState, bot: BotState, params: Params) -> object:
    chat = _known_chat(bot, _chat_id(params))
    message_id = params.get_int("message_id", error=E.MESSAGE_ID_MISSING)
    if message_id is None:
        raise bad_request(E.MESSAGE_ID_MISSING)
    if chat.messages.pop(message_id, None) is None:
        raise bad_request(E.DELETE_NOT_FOUND)
    chat.log.append("delete", message_id=message_id)
    return True


@method("answerCallbackQuery")
async def answer_callback_query(state: StandinState, bot: BotState, params: Params) -> object:
    query_id = params.get_str("callback_query_id")
    record = bot.callbacks.get(query_id) if query_id else None
    if record is None or record.answered:
        raise bad_request(E.QUERY_TOO_OLD)
    text = params.get_str("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    record.answered = True
    bot.chat(record.chat_id).log.append(
        "callback_answer", callback_query_id=query_id, text=text, show_alert=params.get_bool("show_alert"),
        url=params.get_str("url"))
    return True


@method("sendChatAction")
async def send_chat_action(state: StandinState, bot: BotState, params: Params) -> object:
    chat_id = _chat_id(params)
    action = params.get_str("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat = _known_chat(bot, chat_id)
    chat.log.append("chat_action", action=action)
    return True


# --- commands and files ----------------------------------------------------------------------

def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.get_json("scope") or {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    return (repr(sorted(scope.items())), params.get_str("language_code", "") or "")


@method("setMyCommands")
async def set_my_commands(state: StandinState, bot: BotState, params: Params) -> object:
    commands = params.get_json("commands", error="can't parse commands JSON object")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an Array of BotCommand")
    clean = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: BotCommand must be an Object")
        command = str(item.get("command", "")).removeprefix("/").lower()
        description = str(item.get("description", "")).strip()
        if not 1 <= len(command) <= 32 or not all(c.isascii() and (c.isalnum() or c == "_") for c in command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": command, "description": description})
    bot.commands[_commands_key(params)] = clean
    return True


@method("getMyCommands")
async def get_my_commands(state: StandinState, bot: BotState, params: Params) -> object:
    return bot.commands.get(_commands_key(params), [])


@method("deleteMyCommands")
async def delete_my_commands(state: StandinState, bot: BotState, params: Params) -> object:
    bot.commands.pop(_commands_key(params), None)
    return True


@method("getFile")
async def get_file(state: StandinState, bot: BotState, params: Params) -> object:
    file_id = params.get_str("file_id")
    stored = state.files.by_id.get(file_id) if file_id else None
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.file_object()
