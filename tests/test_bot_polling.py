"""The polling pipeline: the acknowledged offset never passes an unfinished update; one chat's
updates run in order while other chats run concurrently."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.transport.polling import Pipeline
from bot.transport.updates import UPDATE_SLOTS
from tests.helpers.bot_harness import MAN, TOKEN, run, survey


class HeldApp:
    """process_update waits until the test releases that update."""

    bot = None

    def __init__(self) -> None:
        self.bot_data = {UPDATE_SLOTS: asyncio.Semaphore(256)}
        self.release: dict[int, asyncio.Event] = {}
        self.started: list[int] = []

    async def process_update(self, update) -> None:
        self.started.append(update.update_id)
        await self.release.setdefault(update.update_id, asyncio.Event()).wait()


def _message(update_id: int, chat_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": "x",
                                                "chat": {"id": chat_id, "type": "private"}}}


def test_offset_moves_only_past_a_finished_prefix_and_one_chat_runs_in_order():
    async def main() -> None:
        app = HeldApp()
        pipeline = Pipeline(app)
        assert pipeline.take([_message(10, 1), _message(11, 2), _message(12, 1)]) == 3
        assert pipeline.take([_message(10, 1), _message(11, 2), _message(12, 1), _message(13, 3)]) == 1
        await asyncio.sleep(0.01)
        assert app.started == [10, 11, 13]  # 12 waits for chat 1's earlier update
        app.release.setdefault(11, asyncio.Event()).set()
        app.release.setdefault(13, asyncio.Event()).set()
        await asyncio.sleep(0.01)
        assert pipeline.offset() == 10  # 11 and 13 are done, 10 is not: nothing acknowledged
        app.release.setdefault(10, asyncio.Event()).set()
        await asyncio.sleep(0.01)
        assert app.started == [10, 11, 13, 12] and pipeline.offset() == 12
        app.release.setdefault(12, asyncio.Event()).set()
        await pipeline.drain()
        assert pipeline.offset() == 14 and not pipeline.inflight and not pipeline.chains
    asyncio.run(main())


def test_messages_sent_together_by_one_person_are_answered_in_order(database_url):
    async def scenario(h):
        person = h.person(4001)
        await survey(person, MAN, upto="full_name")
        for text in (MAN["full_name"], MAN["birth_date"]):
            await h.client.send(4001, text)  # both queued before the bot fetches either
        await person.wait(expect=2)
        conn = await asyncpg.connect(h.database_url)
        try:
            step = await conn.fetchval("SELECT step FROM conversations WHERE chat_id = 4001")
        finally:
            await conn.close()
        assert step == "sex"
    run(database_url, scenario)


def test_updates_behind_a_slow_one_are_answered_without_waiting_for_it(database_url):
    # While one update was stuck (a chart, a slow Bot API call), the loop used to ask again only
    # every 0.2 s: everybody else's replies waited. Anna's 20 messages must all be answered while
    # Ivan's /data (its photo held for 3 s by the stand-in) is still in flight.
    async def scenario(h):
        ivan, anna = h.person(4101), h.person(4102)
        await anna.say("/start")
        await h.client.set_faults(token=TOKEN, delay_ms=3000, methods=["sendPhoto"])
        await h.client.send(ivan.user_id, "/data")
        await asyncio.sleep(0.1)  # the bot has taken it
        for _ in range(20):
            await anna.say("/menu")
        assert not [e for e in await ivan.sync() if e["kind"] == "message"]  # the photo is not there yet
        assert (await ivan.wait(expect=1))[-1]["message"].get("photo")
    run(database_url, scenario)


def test_an_update_the_library_cannot_read_is_skipped_not_fatal(database_url, caplog):
    """An update PTB cannot parse (a field of a shape it does not know) must not stop polling: left
    unacknowledged it would come back after every restart. It is logged, acknowledged and skipped."""
    async def scenario(h):
        await h.client.inject({"message": 5})
        person = h.person(4003)
        events = await person.say("/start")
        assert "Пройти тест" in str(person.buttons(person.last_message())) and events
        for _ in range(50):  # both acknowledged by the next getUpdates
            stats = await h.client.stats()
            if stats["updates"]["pending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert stats["updates"]["pending"] == 0
    run(database_url, scenario)
    skipped = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert skipped and "update" in skipped[0].getMessage()
