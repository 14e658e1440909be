"""migrate-from-sqlite reports rows it cannot move by id and reason, never by what they hold: a
person's name, birth date or measurements stay out of its output and its --report file."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import dev_sqlite

NAME = "Зинаида"
VALUES = (NAME, "xd0", NAME.encode().hex(), "31.02.1987", "999.5", "zina-nul-probe")


def test_rejected_rows_are_reported_without_their_values(tmp_path, database_url):
    source = dev_sqlite.write(
        tmp_path / "dev.db",
        users=[dev_sqlite.user(1001, NAME.encode()),  # a name stored as a BLOB: not text
               dev_sqlite.user(1002, born="31.02.1987"),
               dev_sqlite.user(1003),
               dev_sqlite.user(1004, username="zina-nul-probe\x00")],
        records=[dev_sqlite.record(1, 1003, weight=999.5), dev_sqlite.record(2, 1003)])
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(source), "--database-url",
                           database_url, "--report", str(report)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr  # migrated, with rows quarantined
    written = done.stdout + done.stderr + report.read_text()
    assert "wrong_type" in written and "invalid_date" in written and "out_of_range" in written
    assert [v for v in VALUES if v in written] == []
