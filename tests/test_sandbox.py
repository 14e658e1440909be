"""README command 1 in a pseudo-terminal: Ctrl-C and SIGTERM end everything, the sandbox's own
`:` commands, a movable date that makes Progress possible in a minute, pictures kept per session."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import pytest

from bot.clock import Clock
from kbjuctl import localpg, sandbox
from tests.helpers.bot_harness import kbjuctl_env
from tests.helpers.terminal import Terminal


class SandboxTerminal(Terminal):
    """`kbjuctl run` without BOT_TOKEN on a terminal of its own."""

    def __init__(self, cwd: Path, env: dict[str, str], embedded_pg: Path | None = None) -> None:
        super().__init__(["run"], cwd, env)
        self.embedded_pg = embedded_pg  # the embedded PostgreSQL's folder, when it runs one

    def processes(self) -> list[psutil.Process]:
        """The sandbox and everything it started: its descendants (bot, chart worker, pg_ctl's
        helpers) and the embedded PostgreSQL, which runs detached from it."""
        found = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
        pid_file = localpg.real_embedded_dir(self.embedded_pg) / "postmaster.pid" if self.embedded_pg else None
        if pid_file is not None and pid_file.exists():
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            found += [postmaster, *postmaster.children(recursive=True)]
        return found


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline()[:3])}")
        except psutil.NoSuchProcess:
            pass
    return alive


PROMPT = "Ctrl-D or Ctrl-C quits."
MENU = "[6] 💬 Консультация"  # the last button of the main menu
WELCOME_BUTTON = "[1] 🚀 Пройти тест"
NO_REMINDER = "[8] 🙅 Нет, спасибо"  # the reminder offer's last button, after the survey and a measurement


def _register(term: SandboxTerminal, remind: bool = False) -> None:
    """The whole survey in the terminal, as a person types it; the reminder offer declined, or (remind)
    left on screen."""
    term.type("/start", WELCOME_BUTTON)
    term.type("1", "фамилию и имя")
    term.type("Иванов Иван", "дата рождения")
    term.type("15.06.1990", "[2] Женский")
    term.type("1", "рост")  # Мужской
    term.type("180", "вес")
    term.type("85", "[5] 10 000+")
    term.type("4", "[8] Командные")  # 8 000 – 10 000 steps
    term.type("3", "[4] Ежедневно")  # running
    term.type("2", "Обхват талии")  # 3-4 a week
    term.type("95", "Обхват шеи")
    term.type("42", "[3] Сухое тело")
    term.type("1", NO_REMINDER)  # healthy: the summary, the KBJU with the menu, the reminder offer
    if not remind:
        term.type("8", MENU)  # no reminder


@pytest.fixture
def embedded_sandbox(tmp_path):
    """README command 1 exactly: no BOT_TOKEN, no DATABASE_URL, the embedded PostgreSQL in .kbju/pg."""
    term = SandboxTerminal(tmp_path, kbjuctl_env(), embedded_pg=tmp_path / ".kbju" / "pg")
    yield term
    term.kill()
    localpg.stop_embedded(term.embedded_pg)
    shutil.rmtree(localpg.real_embedded_dir(term.embedded_pg), ignore_errors=True)


def test_ctrl_c_ends_the_bot_the_embedded_postgresql_and_every_helper(embedded_sandbox):
    term = embedded_sandbox
    term.expect(PROMPT, timeout=180)
    term.type("/start", WELCOME_BUTTON)  # the bot is up: its chart worker too (warmed at start)
    started = term.processes()
    assert len(started) >= 3, [p.cmdline() for p in started]  # the sandbox, its chart worker, PostgreSQL
    term.press_ctrl_c()
    took = term.wait(timeout=30)
    print(f"\nCtrl-C to exit: {took:.2f} s ({os.cpu_count()} cores)")
    after = term.unread
    assert term.exit_code == 130, term.text
    assert "Traceback" not in term.text and "KeyboardInterrupt" not in term.text, term.text
    lines = [line for line in after.replace("\r", "").split("\n") if line.strip() and line.strip() != "^C"]
    assert lines == ["Sandbox stopped: the bot, the stand-in, the embedded PostgreSQL are down."], after
    time.sleep(0.5)
    assert not _alive(started), _alive(started)


@pytest.mark.parametrize("after", [0.3, 1.0])
def test_ctrl_c_while_the_embedded_postgresql_starts_leaves_it_startable(embedded_sandbox, tmp_path, after):
    """Ctrl-C during the very first start (initdb) stops it and leaves no half-made cluster: the
    next start works."""
    term = embedded_sandbox
    term.expect("Starting the embedded PostgreSQL", timeout=60)
    time.sleep(after)
    term.press_ctrl_c()
    term.wait(timeout=60)
    assert term.exit_code == 130, term.text
    assert "Traceback" not in term.text and "Sandbox stopped" in term.text, term.text
    time.sleep(0.5)
    assert not (localpg.real_embedded_dir(term.embedded_pg) / "postmaster.pid").exists()
    again = SandboxTerminal(tmp_path, kbjuctl_env(), embedded_pg=term.embedded_pg)
    try:
        again.expect(PROMPT, timeout=180)
        again.type("/start", WELCOME_BUTTON)
        again.press_ctrl_c()
        again.wait(timeout=30)
        assert again.exit_code == 130, again.text
    finally:
        again.kill()


def test_sigterm_ends_the_sandbox_with_143(database_url, tmp_path):
    term = SandboxTerminal(tmp_path, kbjuctl_env(DATABASE_URL=database_url))
    try:
        term.expect(PROMPT)
        term.type("/start", WELCOME_BUTTON)
        started = term.processes()
        os.kill(term.pid, signal.SIGTERM)
        term.wait(timeout=30)
        assert term.exit_code == 143, term.text
        assert "Traceback" not in term.text
        assert "Sandbox stopped: the bot, the stand-in are down." in term.text
        time.sleep(0.5)
        assert not _alive(started), _alive(started)
    finally:
        term.kill()


def test_date_command_moves_the_bots_day_so_progress_has_two_days(database_url, tmp_path):
    """Register today, `:date` a week on, measure again: Progress compares the two days and draws
    the chart; the sandbox's commands never reach the bot."""
    term = SandboxTerminal(tmp_path, kbjuctl_env(DATABASE_URL=database_url))
    try:
        term.expect(PROMPT)
        term.type(":help", ":date 2026-11-01")
        term.type(":nonsense", "unknown command ':nonsense'")
        term.type(":date 31.02.2026", "is not a date")
        term.type(":date 2026-11-01", "the bot's today is now 01.11.2026")
        _register(term)
        term.type(":date 2026-11-08", "the bot's today is now 08.11.2026")
        term.type("3", "Обхват талии")  # menu: new measurements
        term.type("92", "Обхват шеи")
        term.type("41", "вес")
        term.type("84,5", "[5] 10 000+")
        term.type("4", "[8] Командные")
        term.type("3", "[4] Ежедневно")
        saved = term.type("2", NO_REMINDER)
        assert "Замер сохранён — 08.11.2026" in saved, saved
        term.type("8", MENU)
        progress = term.type("2", MENU)  # menu: progress
        assert "01.11.2026 по 08.11.2026 (7 дней)" in progress, progress
        assert "85 → 84,5 кг" in progress, progress
        chart = Path(progress.split("[photo saved to ", 1)[1].split("]", 1)[0])
        assert (tmp_path / chart).read_bytes().startswith(b"\x89PNG")
        term.type(":date", "today is 08.11.2026 (moved")
        term.type(":quit")
        term.wait(timeout=30)
        assert term.exit_code == 0, term.text
        assert "Не совсем понял" not in term.text  # no `:` line ever reached the bot
    finally:
        term.kill()


def test_pictures_of_two_sessions_never_overwrite_each_other(tmp_path):
    clock = Clock(ZoneInfo("Europe/Moscow"))
    first, second = sandbox.TerminalChat(None, clock, tmp_path), sandbox.TerminalChat(None, clock, tmp_path)
    second.session = first.session  # two sessions started in the same second by the same pid
    paths = [first.save_photo(b"first"), second.save_photo(b"second"), first.save_photo(b"third")]
    assert len(set(paths)) == 3
    assert [p.read_bytes() for p in paths] == [b"first", b"second", b"third"]
    assert all(p.name.startswith(first.session) for p in paths)


def test_the_clock_moves_only_when_asked():
    clock = Clock(ZoneInfo("Asia/Tokyo"))
    real = clock.today()
    assert not clock.moved
    clock.move_to(real + timedelta(days=10))
    assert clock.today() == real + timedelta(days=10) and clock.moved
    clock.move_to(date(2020, 2, 29))
    assert clock.today() == date(2020, 2, 29)
    clock.reset()
    assert clock.today() == real and not clock.moved


def test_lines_are_read_from_a_pipe_and_a_regular_file(tmp_path):
    async def collect(stream) -> list[str]:
        return [line async for line in sandbox.read_lines(stream)]

    path = tmp_path / "input.txt"
    path.write_text("/start\nпривет\r\n:quit", encoding="utf-8")
    with path.open() as stream:
        assert asyncio.run(collect(stream)) == ["/start", "привет", ":quit"]
    read, write = os.pipe()
    os.write(write, "один\nдва".encode())
    os.close(write)
    with os.fdopen(read) as stream:
        assert asyncio.run(collect(stream)) == ["один", "два"]



def test_reminders_export_and_erasure_in_the_sandbox(database_url, tmp_path):
    """The features a person reaches in the terminal chat: a reminder set and received after moving the
    clock to its hour, its button, /export's files, /privacy, /delete_me and a fresh start."""
    term = SandboxTerminal(tmp_path, kbjuctl_env(DATABASE_URL=database_url, OPERATOR_NAME="ИП Петрова А. А."))
    try:
        term.expect(PROMPT)
        term.type(":date 2026-11-02 12:00", "02.11.2026 12:00 and runs on")
        term.type("/start", "ИП Петрова А. А.")
        _register(term, remind=True)
        term.type("1", "[2] 9:00")  # Monday
        term.type("2", "Ближайшее напоминание — 09.11.2026")  # 9:00-10:00
        term.type(":date 2026-11-09 10:00", "Пора сделать замеры!")
        term.type("1", "Обхват талии")  # the reminder's «Новые замеры»
        term.type("/cancel", "Отменено")
        exported = term.type("/export", "это всё, что я о вас храню")
        paths = [line.split("[file saved to ", 1)[1].split("]", 1)[0] for line in exported.splitlines()
                 if "[file saved to " in line]
        assert [Path(p).suffix for p in paths] == [".csv", ".pdf"], exported
        assert (tmp_path / paths[0]).read_bytes().startswith("\ufeffДата;Вес, кг".encode())
        assert (tmp_path / paths[1]).read_bytes().startswith(b"%PDF")
        term.type("/privacy", "Кто хранит. ИП Петрова А. А.")
        term.type("/delete_me", "[1] 🗑 Да, удалить всё")
        term.type("1", "все ваши данные удалены")
        term.type("/start", WELCOME_BUTTON)
        term.type(":quit")
        term.wait(timeout=30)
        assert term.exit_code == 0 and "Traceback" not in term.text, term.text
    finally:
        term.kill()
