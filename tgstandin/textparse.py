"""Message text as Telegram stores it: markup parsed into entities, offsets in UTF-16 units.

Telegram strips HTML tags and returns the plain text plus `entities`, trims surrounding
whitespace, and refuses unbalanced or unsupported tags with "can't parse entities: ...". Bot
tests compare what the person sees, so the stand-in does the same for `parse_mode=HTML`.
Markdown and MarkdownV2 texts are kept as sent (their parsers are not reproduced).
"""

from __future__ import annotations

import re
from html import unescape

from .errors import ApiError, bad_request

_HTML_TAGS = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "code": "code", "pre": "pre", "a": "text_link",
    "tg-spoiler": "spoiler", "span": "spoiler",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_ATTRS = r"""(?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))?)*"""
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)?(" + _ATTRS + r")\s*(/?)>")
_ATTR = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _entities_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


def parse_html(src: str) -> tuple[str, list[dict]]:
    """Plain text and entities of an HTML-formatted text, or Telegram's parse error."""
    if not _SPECIAL.search(src):
        return src, []
    out: list[str] = []
    pos = 0  # UTF-16 position in the output
    stack: list[tuple[str, int, dict]] = []  # (tag, start position, attributes)
    entities: list[dict] = []
    i, n = 0, len(src)
    while i < n:
        match = _SPECIAL.search(src, i)
        end = match.start() if match else n
        if end > i:
            chunk = src[i:end]
            out.append(chunk)
            pos += utf16_len(chunk)
            i = end
            if i >= n:
                break
        if src[i] == "&":
            entity = _ENTITY.match(src, i)
            if entity:
                char = unescape(entity.group(0))
                i = entity.end()
            else:  # Telegram keeps an unknown "&name;" or a lone "&" as text
                char = "&"
                i += 1
            out.append(char)
            pos += utf16_len(char)
            continue
        tag = _TAG.match(src, i)
        if not tag:
            raise _entities_error(f"Unsupported start tag at byte offset {_byte_offset(src, i)}"
                                  if src.find(">", i) != -1
                                  else f"Can't find end of the tag at byte offset {_byte_offset(src, i)}")
        closing, name, attrs_text = tag.group(1), (tag.group(2) or "").lower(), tag.group(3)
        if closing:
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
            open_name, start, attrs = stack.pop()
            if name and name != open_name:
                raise _entities_error(
                    f'Unmatched end tag at byte offset {_byte_offset(src, i)}, expected "</{open_name}>", '
                    f'found "</{name}>"')
            _close(open_name, start, pos, attrs, stack, entities)
        else:
            if name not in _HTML_TAGS:
                raise _entities_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, i)}')
            attrs = {key.lower(): unescape(value.strip("\"'")) for key, value in _ATTR.findall(attrs_text)}
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise _entities_error(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, i)}')
            stack.append((name, pos, attrs))
        i = tag.end()
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close(name: str, start: int, end: int, attrs: dict, stack: list, entities: list[dict]) -> None:
    kind = _HTML_TAGS[name]
    language = attrs.get("class", "")
    if kind == "code" and stack and stack[-1][0] == "pre" and language.startswith("language-"):
        stack[-1][2]["language"] = language.removeprefix("language-")
        return
    if end <= start:
        return  # Telegram drops empty entities
    entity: dict = {"type": kind, "offset": start, "length": end - start}
    if kind == "text_link":
        href = attrs.get("href", "")
        if not href:
            return  # <a> without href is plain text
        entity["url"] = href
    elif kind == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)


def strip_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Trim surrounding whitespace as Telegram does, keeping entities on the same characters."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def format_text(text: str, parse_mode: str | None, entities: object) -> tuple[str, list[dict]]:
    """Text and entities as Telegram would store them for the given parse_mode/entities."""
    if parse_mode and parse_mode.lower() == "html":
        text, parsed = parse_html(text)
    elif isinstance(entities, list):
        parsed = [e for e in entities if isinstance(e, dict)]
    else:
        parsed = []
    return strip_text(text, parsed)


def command_entities(text: str) -> list[dict]:
    """The `bot_command` entity Telegram adds to a message that starts with "/command"."""
    match = _COMMAND.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]
