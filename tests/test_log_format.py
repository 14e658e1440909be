"""The log line's shape: the process's identity and the context of the work it belongs to, in JSON
and in text; concurrent updates keep their own context; refused webhook requests are logged once per
source a minute and every one is counted."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from prometheus_client import REGISTRY

from bot import logging as bot_logging
from bot.transport.webhook import RejectionLog


@pytest.fixture
def log_stream():
    """The root logger set up afresh with a stream of our own (and put back after)."""
    def make(fmt: str = "json", level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        root.handlers[:] = []
        bot_logging.setup(level, fmt, stream=stream, service="kbju-bot")
        return stream

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield make
    for handler in root.handlers:
        handler.close()
    root.handlers[:], level = saved
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_json_line_names_the_service_version_and_replica(log_stream):
    stream = log_stream("json")
    logging.getLogger("bot.jobs").info("funnel job done")
    [line] = _lines(stream)
    assert line["message"] == "funnel job done" and line["level"] == "INFO" and line["logger"] == "bot.jobs"
    assert line["service"] == "kbju-bot" and line["version"] and line["replica"]
    assert line["ts"].endswith("Z") and "update_id" not in line


def test_concurrent_updates_keep_their_own_context(log_stream):
    stream = log_stream("json")
    log = logging.getLogger("bot.runtime")

    async def update(update_id: int, delay: float) -> None:
        with bot_logging.bound(update_id=update_id, user=f"u{update_id:012x}"):
            log.info("taken")
            await asyncio.sleep(delay)  # the other updates log meanwhile
            bot_logging.annotate(flow="survey", step=f"step{update_id}")
            log.warning("waited")
        log.info("outside")

    async def main() -> None:
        await asyncio.gather(*(update(i, 0.03 - 0.01 * i) for i in range(3)))

    asyncio.run(main())
    lines = _lines(stream)
    inside = [line for line in lines if line["message"] != "outside"]
    assert len(inside) == 6
    for line in inside:
        assert line["user"] == f"u{line['update_id']:012x}"
        if line["message"] == "waited":
            assert (line["flow"], line["step"]) == ("survey", f"step{line['update_id']}")
        else:
            assert "step" not in line  # annotated later: an earlier line keeps what was known then
    assert all("update_id" not in line for line in lines if line["message"] == "outside")


def test_a_lines_own_fields_and_a_traceback_stay_with_it_and_secrets_are_masked(log_stream):
    stream = log_stream("json")
    bot_logging.add_secret("webhook-secret-value")
    with bot_logging.bound(update_id=7):
        try:
            raise RuntimeError("posted to https://api.telegram.org/bot123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ012/x")
        except RuntimeError:
            logging.getLogger("bot.runtime").exception("failed", extra={"fields": {"outcome": "error",
                                                                                   "note": "webhook-secret-value"}})
    [line] = _lines(stream)
    assert line["update_id"] == 7 and line["outcome"] == "error" and "RuntimeError" in line["exc"]
    assert "ABCDEFGHIJ" not in stream.getvalue() and "webhook-secret-value" not in stream.getvalue()


def test_text_lines_carry_the_same_context_as_pairs(log_stream):
    stream = log_stream("text")
    with bot_logging.bound(update_id=42, user="u0123456789ab"):
        logging.getLogger("bot.transport.updates").info(
            "update handled", extra={"fields": {"outcome": "ok", "duration_ms": 12.34, "reason": "a b"}})
    line = stream.getvalue().strip()
    assert line.endswith('update handled [update_id=42 user=u0123456789ab outcome=ok duration_ms=12.3 reason="a b"]')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("kbju_webhook_rejected_requests_total", {"reason": reason}) or 0.0


def test_refused_requests_are_logged_once_per_source_a_minute_and_all_counted(caplog):
    clock = Clock()
    rejections = RejectionLog(clock=clock)
    before = _rejected("forbidden"), _rejected("too_large")
    with caplog.at_level(logging.WARNING, logger="bot.transport.webhook"):
        for _ in range(5):
            rejections.record("203.0.113.9", 403, "forbidden")
        rejections.record("203.0.113.9", 413, "too_large")
        rejections.record("198.51.100.1", 403, "forbidden")
        clock.now += 61
        rejections.record("203.0.113.9", 403, "forbidden")
    lines = [(r.getMessage(), r.fields) for r in caplog.records]
    assert lines == [
        ("webhook request rejected", {"source": "203.0.113.9", "status": 403, "reason": "forbidden", "count": 1}),
        ("webhook request rejected", {"source": "198.51.100.1", "status": 403, "reason": "forbidden", "count": 1}),
        # the 5 refused since the source's last line (4 forbidden, 1 too large), this one included
        ("webhook request rejected", {"source": "203.0.113.9", "status": 403, "reason": "forbidden", "count": 6}),
    ]
    assert (_rejected("forbidden") - before[0], _rejected("too_large") - before[1]) == (7, 1)


def test_a_flood_from_many_sources_is_counted_but_the_log_stays_bounded(caplog):
    clock = Clock()
    rejections = RejectionLog(clock=clock)
    with caplog.at_level(logging.WARNING, logger="bot.transport.webhook"):
        for i in range(RejectionLog.MAX_SOURCES + 500):
            rejections.record(f"10.0.{i // 256}.{i % 256}", 403, "forbidden")
        assert len(caplog.records) == RejectionLog.MAX_SOURCES
        clock.now += 61  # a minute later the table has room again
        rejections.record("10.9.9.9", 403, "forbidden")
    assert len(caplog.records) == RejectionLog.MAX_SOURCES + 1
    assert len(rejections.seen) == 1


def test_the_oldest_unhandled_update_is_the_one_taken_first_and_none_waiting_is_zero():
    from bot.transport.updates import InFlight

    in_flight = InFlight()
    assert in_flight.oldest_age() == 0.0
    in_flight.take(5)
    in_flight.taken[5] -= 40  # taken 40 s ago
    in_flight.take(6)
    assert 40 <= in_flight.oldest_age() < 41
    assert in_flight.take(5) == in_flight.taken[5]  # taken again (a re-delivery in flight): its age stays
    in_flight.taken.pop(5)
    assert in_flight.oldest_age() < 1

