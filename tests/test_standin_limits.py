"""The stand-in's Telegram sending limits against their documented behaviour (tgstandin/limits.py,
tgstandin/README.md "Telegram's limits"): per chat, per group, bulk, and what counts as a reply.

The rules are checked on `TelegramLimits` with a clock the test moves (exact, no sleeping), and
once end to end over real HTTP: the 429 envelope, the control API and the stats.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tgstandin import BotApiStandin, StandinClient, StandinError
from tgstandin.limits import LimitsConfig, TelegramLimits

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawE"
OTHER = "654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsawE"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits(**settings: object) -> tuple[TelegramLimits, Clock]:
    clock = Clock()
    return TelegramLimits(LimitsConfig(**settings), clock=clock), clock


def test_a_chat_takes_a_short_burst_then_one_message_a_second():
    rules, clock = limits()
    active = clock.now  # the person just wrote: these are replies
    assert [rules.check(TOKEN, "sendmessage", 7, active) for _ in range(3)] == [0, 0, 0]
    assert rules.check(TOKEN, "sendmessage", 7, active) == 1  # the 4th at once: 429, retry after 1 s
    assert rules.check(TOKEN, "sendmessage", 8, active) == 0  # another chat is not affected
    clock.now += 1.0
    assert rules.check(TOKEN, "sendmessage", 7, active) == 0  # one a second, sustained
    assert rules.check(TOKEN, "sendmessage", 7, active) == 1
    clock.now += 0.5
    assert rules.check(TOKEN, "editmessagetext", 7, active) == 1  # edits count in the chat too
    clock.now += 0.5
    assert rules.check(TOKEN, "editmessagetext", 7, active) == 0
    clock.now += 10
    assert [rules.check(TOKEN, "sendphoto", 7, active) for _ in range(4)] == [0, 0, 0, 1]  # the burst again
    assert rules.refused == {"chat": 4}
    assert rules.admitted == {"reply": 8, "edit": 1}


def test_other_methods_are_never_limited():
    rules, _clock = limits()
    for _ in range(100):
        assert rules.check(TOKEN, "answercallbackquery", None, None) == 0
        assert rules.check(TOKEN, "getme", None, None) == 0
        assert rules.check(TOKEN, "sendchataction", 7, None) == 0
    assert not rules.refused and not rules.admitted


def test_a_group_takes_at_most_20_messages_a_minute():
    rules, clock = limits()
    sent = 0
    for _ in range(60):  # one every 2 s: within a chat's 1/s, but 30 a minute
        if rules.check(TOKEN, "sendmessage", -100123, None) == 0:
            sent += 1
        clock.now += 2.0
    # Over two minutes: 20 at 0-38 s, none at 40-58 s, 20 at 60-98 s, none at 100-118 s.
    assert sent == 40 and rules.refused == {"group": 20}
    for _ in range(20):
        rules.check(TOKEN, "sendmessage", "@channel", None)
        clock.now += 1.0
    retry = rules.check(TOKEN, "sendmessage", "@channel", None)
    assert retry == 40  # the oldest of the 20 leaves the window 60 s after it was sent
    assert rules.refused["group"] > 0 and "bulk" not in rules.refused  # a group message is never bulk


def test_unsolicited_messages_to_many_chats_share_30_a_second():
    rules, clock = limits()
    long_ago = clock.now - 61  # wrote more than a minute ago: what the bot sends now is unsolicited
    answers = [rules.check(TOKEN, "sendmessage", chat, long_ago) for chat in range(1, 41)]
    assert answers[:30] == [0] * 30 and set(answers[30:]) == {1}  # burst 30, then 429 retry after 1
    assert rules.refused == {"bulk": 10}
    clock.now += 0.5
    assert [rules.check(TOKEN, "sendmessage", chat, long_ago) for chat in range(41, 57)] == [0] * 15 + [1]
    # Replies (the person wrote within the last minute) and edits do not count toward the bulk limit.
    just_now = clock.now - 5
    assert [rules.check(TOKEN, "sendmessage", chat, just_now) for chat in range(100, 200)] == [0] * 100
    assert rules.check(TOKEN, "editmessagetext", 300, long_ago) == 0
    assert rules.check(TOKEN, "sendmessage", 301, None) == 1  # never wrote at all: unsolicited
    assert rules.check(OTHER, "sendmessage", 301, None) == 0  # per bot token
    assert rules.describe({TOKEN: 123456, OTHER: 654321})["peak_bulk_per_second"] == {"123456": 45, "654321": 1}


def test_the_reply_window_and_per_bot_settings_are_configurable():
    rules, clock = limits(reply_window_s=5, bulk_per_second=2, bulk_burst=2)
    wrote = clock.now
    clock.now += 4
    assert [rules.check(TOKEN, "sendmessage", c, wrote) for c in range(1, 10)] == [0] * 9  # replies
    clock.now += 2  # now more than 5 s after they wrote
    assert [rules.check(TOKEN, "sendmessage", c, wrote) for c in range(11, 14)] == [0, 0, 1]
    rules.configure(LimitsConfig(enabled=False), OTHER)  # per bot: off for this one only
    assert [rules.check(OTHER, "sendmessage", 1, None) for _ in range(10)] == [0] * 10
    rules.clear()
    assert [rules.check(TOKEN, "sendmessage", 1, None) for _ in range(10)] == [0] * 10  # all off


@pytest.mark.parametrize(("body", "message"), [
    ({"per_chat_per_second": 0}, "per_chat_per_second must be a number above 0"),
    ({"per_chat_burst": 1.5}, "per_chat_burst must be a whole number"),
    ({"enabled": "yes"}, "enabled must be true or false"),
    ({"reply_window_s": -1}, "reply_window_s must be a number of seconds"),
    ({"bulk_per_sec": 30}, "unknown limit settings"),
])
def test_bad_settings_are_refused_with_a_reason(body, message):
    with pytest.raises(ValueError, match=message):
        LimitsConfig.from_json(body)


def test_over_http_a_429_carries_retry_after_and_the_stats_count_it():
    async def main() -> None:
        async with BotApiStandin() as standin, StandinClient(standin.url, TOKEN) as control, \
                aiohttp.ClientSession() as http:
            async def send(chat_id: int, text: str) -> tuple[int, dict]:
                async with http.post(f"{standin.url}/bot{TOKEN}/sendMessage",
                                     json={"chat_id": chat_id, "text": text}) as response:
                    return response.status, await response.json()

            await control.send(7, "hi")
            assert [(await send(7, str(i)))[0] for i in range(5)] == [200] * 5  # off by default
            await control.set_limits(token=TOKEN)  # Telegram's documented figures
            assert [(await send(7, str(i)))[0] for i in range(3)] == [200] * 3
            assert await send(7, "one too many") == (429, {
                "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1}})
            assert "one too many" not in [m.get("text") for m in await control.messages(7)]  # refused: not sent

            await control.set_limits(token=TOKEN, reply_window_s=0.1, bulk_per_second=5, bulk_burst=5)
            for chat in range(100, 110):
                await control.send(chat, "hi")
            await asyncio.sleep(0.2)  # longer than the reply window: what follows is unsolicited
            codes = [(await send(chat, "news"))[0] for chat in range(100, 110)]
            assert codes == [200] * 5 + [429] * 5
            stats = (await control.stats())["limits"]
            assert stats["refused"] == {"chat": 1, "bulk": 5}
            assert stats["admitted"]["bulk"] == 5 and stats["peak_bulk_per_second"] == {"123456": 5}
            with pytest.raises(StandinError, match="unknown limit settings"):
                await control.set_limits(per_minute=3)
            await control.clear_limits()
            assert [(await send(7, str(i)))[0] for i in range(5)] == [200] * 5

    asyncio.run(main())


def test_the_command_line_turns_the_limits_on_from_the_start():
    async def main() -> None:
        async with BotApiStandin(limits=LimitsConfig()) as standin, StandinClient(standin.url, TOKEN) as control:
            described = (await control.stats())["limits"]
            assert described["global"]["enabled"] is True and described["global"]["bulk_per_second"] == 30

    asyncio.run(main())
