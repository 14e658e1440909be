"""Independent witnesses of a failure drill: a ledger of acknowledged writes, and a probe person.

- The ledger writes numbered rows into its own table, one autocommit INSERT at a time, through the
  same URL the bot uses (multi-host, target_session_attrs=read-write), and notes every INSERT the
  server acknowledged. Afterwards every acknowledged row must be there: "0 acknowledged writes lost".
- The probe is one more person, apart from the load's people: after a failure it asks the bot
  (/data) again and again until a real answer comes; the time from the failure to that answer is the
  figure the drills print (the bot answers "try again" meanwhile, which does not count).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from bot.domain import texts

LEDGER_TABLE = "drill_ledger"
PROBE_CHAT = 999_999_999_001  # outside the ids load runs use (10**15 and up)
RETRY_PAUSE_S = 0.05


def _plain(text: str) -> str:
    import re

    return " ".join(re.sub(r"<[^>]+>", "", text).split())


TRY_AGAIN = _plain(texts.DB_UNAVAILABLE)
APOLOGY = _plain(texts.GENERIC_ERROR)


@dataclass
class Ledger:
    database_url: str
    acknowledged: list[tuple[int, float]] = field(default_factory=list)  # (id, wall time of the ack)
    failed_attempts: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Ledger:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (id bigint PRIMARY KEY, "
                         "written_at timestamptz NOT NULL DEFAULT clock_timestamp())")
        self._thread = threading.Thread(target=self._run, name="drill-ledger", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        conn = None
        next_id = 1
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=2)
                conn.execute(f"INSERT INTO {LEDGER_TABLE} (id) VALUES (%s)", (next_id,))  # nosec B608  # a constant
                self.acknowledged.append((next_id, time.time()))
                next_id += 1
                time.sleep(0.005)
            except psycopg.errors.UniqueViolation:
                next_id += 1  # committed, but the acknowledgement was lost with the connection
            except psycopg.Error:
                self.failed_attempts += 1
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(RETRY_PAUSE_S)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def lost(self) -> list[int]:
        """Acknowledged ids missing from the table now."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            present = {row[0] for row in conn.execute(f"SELECT id FROM {LEDGER_TABLE}")}  # nosec B608  # a constant
        return [i for i, _ in self.acknowledged if i not in present]

    def longest_gap(self, around: float) -> float:
        """The longest time between two acknowledged writes within 60 s of `around` (an outage's length
        as writers saw it)."""
        times = [t for _, t in self.acknowledged if abs(t - around) < 60]
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def _call(url: str, method: str = "GET", body: dict | None = None, timeout: float = 10) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # nosec B310  # the stand-in's http URL we were given
        return json.loads(resp.read())


def probe_until_answered(standin_url: str, token: str, since: float, timeout_s: float = 120,
                         wait_s: float = 3.0) -> dict:
    """Ask /data until the bot answers with something other than "try again". Returns the seconds from
    `since` (a time.time()) to that answer, and how many "try again" answers came before it.

    Like a person, the probe waits for the answer to its question before it asks again: the chat's
    log also holds the probe's own messages, so only the bot's messages after its question count."""
    token_q = urllib.parse.urlencode({"token": token})
    chat_url = f"{standin_url}/_standin/chats/{PROBE_CHAT}/events"
    try_again = apologies = 0
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            after = _call(f"{standin_url}/_standin/send", "POST", {"token": token, "user_id": PROBE_CHAT,
                                                                   "text": "/data", "first_name": "Проба"})["seq"]
        except OSError:
            time.sleep(0.2)
            continue
        reply = _next_bot_message(chat_url, token_q, after, deadline, wait_s)
        if reply is None:
            break
        if reply == TRY_AGAIN:
            try_again += 1
            time.sleep(0.2)
            continue
        if reply == APOLOGY:
            apologies += 1
            continue
        return {"seconds": round(time.time() - since, 2), "try_again_replies": try_again, "apologies": apologies}
    return {"seconds": None, "try_again_replies": try_again, "apologies": apologies}


def _next_bot_message(chat_url: str, token_q: str, after: int, deadline: float, wait_s: float) -> str | None:
    """The text of the bot's first message in the chat after event `after`; None at the deadline."""
    while time.time() < deadline:
        try:
            found = _call(f"{chat_url}?{token_q}&after={after}&min=1&timeout={wait_s}", timeout=wait_s + 10)
        except OSError:
            time.sleep(0.2)
            continue
        for event in found["events"]:
            after = max(after, event["seq"])
            if event.get("kind") == "message":
                return _plain(event["message"].get("text") or event["message"].get("caption") or "")
    return None
