"""A restore the target either takes whole, proven equal to the manifest, or does not take at all.

pg_restore writes the archive as an SQL script; psql runs it inside our own BEGIN. Before COMMIT,
still inside that transaction, a DO block sums every table of the target exactly as the manifest's
checksums were taken (checksums.METHODS) and compares them with the manifest: any difference (a
table the backup lacks, left by --force; data that does not match) raises, psql stops, and the
server rolls everything back. So a restore never leaves a target holding data that differs from
the backup, nor a mix of the backup and what was there before.

pg_restore --single-transaction cannot do this: it commits before anyone can compare.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from kbjuctl import dburl
from kbjuctl.backup import checksums, tools
from kbjuctl.backup.archive import Backup
from kbjuctl.backup.db import connect
from kbjuctl.errors import BadInput, OperationFailed, OutcomeUnknown, VerificationFailed

SUM_MARK = "kbju-restore-sum "
DIFFERS_MARK = "kbju-restore-differs"
PSQL_CONNECTION_LOST = 2  # psql's exit code when the connection to the server was lost
CHUNK = 1 << 20
UNCHANGED = "It ran in one transaction, which was rolled back: {target} holds what it held before."

# Runs inside the restore's transaction, after the script and before COMMIT. %%I.%%I: the table.
_CHECK = """
SET client_min_messages = notice;
{settings}
DO ${tag}$
DECLARE
    expected jsonb := ${tag}_m${expected}${tag}_m$::jsonb;
    actual jsonb := '{{}}';
    item record;
    found record;
    name text;
    method text;
BEGIN
    FOR item IN {tables} LOOP
        name := CASE WHEN item.nspname = 'public' THEN item.relname ELSE item.nspname || '.' || item.relname END;
        method := coalesce(expected -> name ->> 'method', 'text');
        EXECUTE format(CASE method WHEN 'record' THEN {record} ELSE {text} END, item.nspname, item.relname)
            INTO found;
        actual := actual || jsonb_build_object(name, jsonb_build_object('rows', found.count, 'checksum', found.sum));
        RAISE NOTICE '{sum_mark}%', jsonb_build_object('table', name, 'rows', found.count, 'checksum', found.sum,
                                                       'method', method);
    END LOOP;
    IF actual IS DISTINCT FROM (SELECT coalesce(jsonb_object_agg(key, value - 'method'), '{{}}') FROM
                                jsonb_each(expected)) THEN
        RAISE EXCEPTION '{differs_mark}';
    END IF;
END
${tag}$;
"""


def check_sql(backup: Backup) -> str:
    """The DO block comparing every table of the target with the backup's manifest."""
    tag = "kbju_" + secrets.token_hex(8)  # no table name can end the dollar-quoted strings early
    expected = {name: {"rows": t["rows"], "checksum": t["checksum"], "method": t["method"]}
                for name, t in backup.manifest.tables.items()}
    settings = "\n".join(f"SELECT pg_catalog.set_config('{name}', '{value}', true);"
                         for name, value in checksums.SESSION_SETTINGS.items())

    def template(method: str) -> str:
        sql = checksums.METHODS[method].replace("count(*)", "count(*) AS count").replace(
            "::text FROM", "::text AS sum FROM").replace("{}", "%I.%I")
        return "'" + sql.replace("'", "''") + "'"

    tables = checksums.USER_TABLES.replace("\\_", "\\\\_").strip()
    return _CHECK.format(settings=settings, tag=tag, expected=json.dumps(expected), tables=tables,
                         record=template("record"), text=template("text"), sum_mark=SUM_MARK,
                         differs_mark=DIFFERS_MARK)


def psql_beside(pg_restore: tools.Tool) -> tools.Tool:
    """The psql of pg_restore's own installation: it understands the scripts that pg_restore writes
    (\\restrict, for one, is only known to recent minor versions)."""
    path = pg_restore.path.parent / "psql"
    if path.is_file() and os.access(path, os.X_OK):
        return tools.Tool("psql", path, pg_restore.version, pg_restore.major)
    return tools.pick("psql", pg_restore.major, f"it runs the scripts of pg_restore {pg_restore.major}")


def restore(pg_restore: tools.Tool, archive: Path, url: str, backup: Backup, *,
            clean: bool) -> dict[str, checksums.TableSum]:
    """Restore into url and commit only if every table equals the manifest; the sums of what was committed.

    Raises VerificationFailed (rolled back: differs), OperationFailed (rolled back: a tool or the
    server failed) or OutcomeUnknown (the connection was lost at the end and cannot be made again).
    """
    psql = psql_beside(pg_restore)
    child_url, env = dburl.for_child(url)
    script = [str(pg_restore.path), "--no-owner", "--exit-on-error", "--file=-"]
    if clean:
        script += ["--clean", "--if-exists"]
    runner = [str(psql.path), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={child_url}"]
    target = dburl.redact(url)
    with tempfile.TemporaryFile() as psql_err, tempfile.TemporaryFile() as script_err:
        run = subprocess.Popen(runner, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
        write = subprocess.Popen([*script, str(archive)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=script_err)
        written = None
        try:
            run.stdin.write(b"BEGIN;\n")
            shutil.copyfileobj(write.stdout, run.stdin, CHUNK)
            written = write.wait()
            # Only a whole script is checked and committed; a cut one is rolled back explicitly.
            run.stdin.write((check_sql(backup) + "COMMIT;\n").encode() if written == 0 else b"ROLLBACK;\n")
            run.stdin.close()
        except BrokenPipeError:  # psql stopped at an error (ON_ERROR_STOP): the server rolls back
            pass
        finally:
            if write.poll() is None:
                write.kill()
            written = write.wait() if written is None else written
            code = run.wait()
        psql_err.seek(0)
        errors = dburl.mask(psql_err.read().decode("utf-8", "replace"), url)
        script_err.seek(0)
        script_errors = script_err.read().decode("utf-8", "replace").strip()
    sums = _sums(errors)
    if code == 0 and written == 0:
        return sums
    if DIFFERS_MARK in errors:
        diffs = checksums.differences(backup.manifest.tables, sums)
        raise VerificationFailed(f"RESTORED DATA DIFFERS FROM THE BACKUP in {target}:\n  " + "\n  ".join(diffs)
                                 + "\n" + UNCHANGED.format(target=target))
    if code == PSQL_CONNECTION_LOST:
        return _after_lost_connection(url, backup, _tail(errors))
    if written != 0:
        raise OperationFailed(f"pg_restore {pg_restore.version} could not read {archive.name}: "
                              f"{script_errors[-1500:]}\n" + UNCHANGED.format(target=target))
    raise OperationFailed(f"The restore into {target} failed (psql {psql.version}, exit {code}):\n{_tail(errors)}\n"
                          + UNCHANGED.format(target=target))


def _sums(errors: str) -> dict[str, checksums.TableSum]:
    sums = {}
    for line in errors.splitlines():
        _, mark, data = line.partition(SUM_MARK)
        if mark:
            item = json.loads(data)
            sums[item["table"]] = checksums.TableSum(int(item["rows"]), str(item["checksum"]), item["method"])
    return sums


def _tail(errors: str) -> str:
    lines = [line for line in errors.strip().splitlines() if SUM_MARK not in line]
    return "\n".join(lines)[-2000:]


def _after_lost_connection(url: str, backup: Backup, errors: str) -> dict[str, checksums.TableSum]:
    """The connection broke, perhaps while committing: the target tells which way it went. A commit
    makes it equal the manifest; without one the server rolled back, so it differs."""
    target = dburl.redact(url)
    try:
        with connect(url, autocommit=True) as conn:
            methods = {name: t["method"] for name, t in backup.manifest.tables.items()}
            sums = checksums.table_sums(conn, None, methods)
    except BadInput:
        raise OutcomeUnknown(
            f"The connection to {target} was lost at the end of the restore, and the server does not answer now: "
            f"whether the restore committed is unknown.\n{errors}\nOnce the server answers, run the same "
            "`kbjuctl backup restore ... --force`: it either finds the target equal to the backup (a restore "
            "that committed, done again) or restores it.") from None
    if checksums.differences(backup.manifest.tables, sums):
        raise OperationFailed(f"The connection to {target} was lost during the restore:\n{errors}\n"
                              + UNCHANGED.format(target=target))
    return sums
