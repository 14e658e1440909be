"""The load tests' people (locustfile) for the drills, with every step written down as it ends, so a
drill can compare the latency of its phases (steady, rolling) and count what went wrong.

    LOADTEST_STEPS_FILE    CSV, one line per step: started (unix s), name, ms, outcome
                           (ok, or BotError / RetryAsked / NoReply / StepFailed)
and, at the end, LOADTEST_STEPS_FILE + ".end.json": {"stray": N, "stray_examples": [...]}, the bot
messages that came after their step was complete. A drill's people do not tap a button twice
(LOADTEST_DOUBLE_PRESS=0; the load tests have them): the second tap of a menu button is a second
update rightly answered again, which would be indistinguishable here from one update answered
twice. So every stray message is an answer nobody asked for. Every other setting is the locustfile's.

SIGUSR1 ends the run the way its time limit would (a drill does not know in advance how long it
takes): every person stops and says where they were (the journal's last facts), then the reports
are written. SIGTERM would close the journal before the people stop.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import time
from pathlib import Path

import gevent
from locust import events

from loadtests.journeys import STRAY
from loadtests.locustfile import NewPerson, RegisteredPerson

__all__ = ["NewPerson", "RegisteredPerson"]  # Locust finds the users here

_path = Path(os.environ.get("LOADTEST_STEPS_FILE", "drill-steps.csv"))
_file = None
_writer = None
log = logging.getLogger("loadtests.drill")


@events.init.add_listener
def _stop_on_sigusr1(environment, **_kwargs) -> None:
    def stop() -> None:
        log.info("SIGUSR1: ending the run as its time limit would")
        gevent.spawn(environment.runner.quit)

    gevent.signal_handler(signal.SIGUSR1, stop)


@events.test_start.add_listener
def _open(**_kwargs) -> None:
    global _file, _writer
    _path.parent.mkdir(parents=True, exist_ok=True)
    _file = _path.open("a", newline="", encoding="utf-8")
    _writer = csv.writer(_file)


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, **_kwargs) -> None:
    if _writer is None:
        return
    ended = time.time()
    outcome = "ok" if exception is None else type(exception).__name__
    _writer.writerow([f"{ended - response_time / 1000:.3f}", name, f"{response_time:.1f}", outcome])
    _file.flush()


@events.quitting.add_listener
def _close(**_kwargs) -> None:
    if _file is not None:
        _file.close()
    Path(f"{_path}.end.json").write_text(json.dumps({"stray": len(STRAY), "stray_examples": STRAY[:20]},
                                                    ensure_ascii=False))
