"""Chunk digests: the load's verification without reading a million rows back into Python.

While the load maps a table (pipeline.py), every mapped row (the tuple handed to COPY) is encoded
here, in Python, into PostgreSQL's binary record format (what `record_send(ROW(...))` produces: column count,
then per column its type oid, its byte length or -1 for NULL, and the value's binary send form:
IEEE doubles bit for bit, UTF-8 text byte for byte, dates as days and timestamps as microseconds
since 2000-01-01 UTC). Rows are grouped into chunks of consecutive source ids; each chunk keeps
only its first source id, its row count and the sha256 of its rows' encodings in source-id order.

Once a range is loaded, PostgreSQL computes the same thing from the stored table (`record_send` over
the stored columns, ordered by source id within each chunk's id range): a computation on what is
stored, independent of the write path (psycopg's COPY encoder is not involved on either side, so a
wrong encoding in COPY, a trigger or a cast that changes a value shows up as a differing chunk).
Only a differing chunk is read back row by row (verify.verify over that id range), which also
names the rows and columns that differ. Memory: one chunk of encodings (~2 MB) plus 48 bytes per
chunk.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from kbjuctl.sqlite_migration.mapping import TARGET_COLUMNS

CHUNK_ROWS = 10_000
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1

# type oids as record_send writes them
INT8, INT4, TEXT, FLOAT8, DATE, TIMESTAMPTZ = 20, 23, 25, 701, 1082, 1184

# Columns in the order the digest encodes them (fixed-width NOT NULL ones first: one struct.pack).
DIGEST_COLUMNS: dict[str, tuple[tuple[str, int], ...]] = {
    "users": (
        ("telegram_id", INT8), ("created_at", TIMESTAMPTZ), ("imported_at", TIMESTAMPTZ),
        ("date_of_birth", DATE), ("username", TEXT), ("first_name", TEXT), ("last_name", TEXT), ("sex", TEXT),
    ),
    "user_records": (
        ("telegram_id", INT8), ("legacy_source_id", INT8), ("date", DATE), ("weight", FLOAT8), ("waist", FLOAT8),
        ("neck", FLOAT8), ("height", INT4), ("imported_at", TIMESTAMPTZ), ("hip", FLOAT8), ("bodyfat", FLOAT8),
        ("legacy_step_multiplier", FLOAT8), ("goal", TEXT), ("steps", TEXT), ("sport_type", TEXT),
        ("sport_freq", TEXT), ("legacy_goal", TEXT), ("legacy_steps", TEXT), ("legacy_sport_type", TEXT),
        ("legacy_sport_freq", TEXT),
    ),
    "user_food_preferences": (
        ("telegram_id", INT8), ("legacy_source_id", INT8), ("created_at", TIMESTAMPTZ),
        ("imported_at", TIMESTAMPTZ), ("likes_raw", TEXT), ("dislikes_raw", TEXT),
    ),
}
TARGET_KEY = {"users": "telegram_id", "user_records": "legacy_source_id",
              "user_food_preferences": "legacy_source_id"}


def digest_sql(table: str) -> str:
    """Per chunk of source ids: (chunk number, rows, sha256 of their record_send in source-id order).

    $1 the run's imported_at, $2 the chunks' first source ids, $3 the last chunk's last source id.

    The rows reach string_agg in the order of the source-id index scan (verify_loaded turns sorts
    and bitmap scans off for this query): an ORDER BY inside the aggregate would sort every chunk
    again, a third of the query's time. Should the order ever differ, the digests differ and the
    chunk is compared row by row: a false alarm, never a missed difference.
    """
    key = TARGET_KEY[table]
    row = ", ".join(column for column, _ in DIGEST_COLUMNS[table])
    return f"""
SELECT b.k, c.n, c.digest
FROM unnest($2::bigint[]) WITH ORDINALITY AS b(lo, k)
CROSS JOIN LATERAL (
    SELECT count(*) AS n, sha256(string_agg(s.r, ''::bytea)) AS digest
    FROM (
        SELECT record_send(ROW({row})) AS r FROM {table}
        WHERE {key} >= b.lo AND {key} <= coalesce(($2::bigint[])[b.k + 1] - 1, $3::bigint) AND imported_at = $1
        ORDER BY {key}
    ) AS s
) AS c
ORDER BY b.k
"""  # nosec B608  # names from DIGEST_COLUMNS, constants


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_DAY = date(2000, 1, 1).toordinal()
_MICROSECOND = timedelta(microseconds=1)
_HEADER = struct.Struct(">ii").pack
_FLOAT8 = struct.Struct(">iid").pack


def _pair(oid: int, length: int) -> int:
    return (oid << 32) | length


_I8, _I4, _F8, _DATE = _pair(INT8, 8), _pair(INT4, 4), _pair(FLOAT8, 8), _pair(DATE, 4)
_RECORD_START = _pair(19, INT8)  # column count, then the first column's type oid
_FLOAT8_FIELD = struct.Struct(">qd").pack
_NULL = {oid: _HEADER(oid, -1) for oid in (INT8, INT4, TEXT, FLOAT8, DATE, TIMESTAMPTZ)}
_NULL_FLOAT8, _NULL_TEXT, _NULL_DATE = _NULL[FLOAT8], _NULL[TEXT], _NULL[DATE]
_CACHE_LIMIT = 4096  # small-domain values only; a file with more distinct values just encodes again


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL_TEXT
    data = value.encode("utf-8")
    return _HEADER(TEXT, len(data)) + data


def _microseconds(value: datetime) -> int:
    return (value - _PG_EPOCH) // _MICROSECOND


class _Cached(dict):
    """value -> its encoding, for columns with few distinct values (dates, codes, the run's time)."""

    def __init__(self, encode):
        super().__init__()
        self._encode = encode

    def __missing__(self, value):
        encoded = self._encode(value)
        if len(self) < _CACHE_LIMIT:
            self[value] = encoded
        return encoded


def _texts(values: tuple) -> bytes:
    return b"".join(_text(v) for v in values)


class RowEncoders:
    """One encoder per table: mapped row (TARGET_COLUMNS order) -> record_send bytes (DIGEST_COLUMNS order)."""

    def __init__(self, imported_at: datetime):
        # Not in the mapped rows: the column DEFAULT during the load (see mapping.USERS_COLUMNS).
        self._imported_at = _microseconds(imported_at)
        self._imported_at_field = struct.pack(">iiq", TIMESTAMPTZ, 8, self._imported_at)
        # Record dates: a few thousand distinct days. Birth dates (many more) are not cached: they
        # would fill the cache before the records come.
        self._days = _Cached(lambda d: d.toordinal() - _PG_EPOCH_DAY)
        self._codes = _Cached(_texts)  # the eight code columns of a record together

    def encoder(self, table: str):
        return {"users": self.user, "user_records": self.record, "user_food_preferences": self.food}[table]

    def user(self, row: tuple) -> bytes:
        telegram_id, username, first_name, last_name, sex, date_of_birth, created_at = row
        return b"".join((
            _USER_HEAD(8, INT8, 8, telegram_id, TIMESTAMPTZ, 8, _microseconds(created_at),
                       TIMESTAMPTZ, 8, self._imported_at),
            _NULL_DATE if date_of_birth is None else _DATE_FIELD(DATE, 4, date_of_birth.toordinal() - _PG_EPOCH_DAY),
            _text(username), _text(first_name), _text(last_name), _text(sex),
        ))

    def record(self, row: tuple, _float=_FLOAT8_FIELD, _f8=_F8, _null=_NULL_FLOAT8, _join=b"".join) -> bytes:
        (telegram_id, day, weight, waist, neck, hip, height, goal, steps, sport_type, sport_freq, bodyfat,
         source_id, legacy_goal, legacy_steps, legacy_sport_type, legacy_sport_freq, multiplier) = row
        return _join((
            _RECORD_HEAD(_RECORD_START, 8, telegram_id, _I8, source_id, _DATE, self._days[day], _f8, weight,
                         _f8, waist, _f8, neck, _I4, height),
            self._imported_at_field,
            _null if hip is None else _float(_f8, hip),
            _null if bodyfat is None else _float(_f8, bodyfat),
            _null if multiplier is None else _float(_f8, multiplier),
            self._codes[(goal, steps, sport_type, sport_freq, legacy_goal, legacy_steps, legacy_sport_type,
                         legacy_sport_freq)],
        ))

    def food(self, row: tuple) -> bytes:
        telegram_id, likes_raw, dislikes_raw, created_at, source_id = row
        return b"".join((
            _FOOD_HEAD(6, INT8, 8, telegram_id, INT8, 8, source_id, TIMESTAMPTZ, 8, _microseconds(created_at),
                       TIMESTAMPTZ, 8, self._imported_at),
            _text(likes_raw), _text(dislikes_raw),
        ))


_DATE_FIELD = struct.Struct(">iii").pack
_USER_HEAD = struct.Struct(">i" + "iiq" * 3).pack
# The record's fixed-width NOT NULL columns in one pack; each constant (type oid, length) pair of the
# format travels as one 64-bit argument (fewer arguments: this runs a million times).
_RECORD_HEAD = struct.Struct(">qiqqqqiqdqdqdqi").pack
_FOOD_HEAD = struct.Struct(">i" + "iiq" * 4).pack


@dataclass
class RangeDigests:
    """The source side of one key range [low, high] of a table: its chunks, in key order.

    Chunk c covers keys first_ids[c] .. first_ids[c + 1] - 1 (the last one up to high); the first
    starts at low, so the chunks of consecutive ranges cover every key, gaps included.
    """

    table: str
    low: int
    high: int
    first_ids: list[int]
    counts: list[int]
    digests: list[bytes | None]

    def range_of(self, chunk: int) -> tuple[int, int]:
        """Source ids [low, high] of chunk number `chunk`."""
        high = self.first_ids[chunk + 1] - 1 if chunk + 1 < len(self.first_ids) else self.high
        return self.first_ids[chunk], high


class RangeDigester:
    """Builds a RangeDigests from the mapped rows of the range, whole batches per chunk: a chunk
    closes once it holds at least CHUNK_ROWS rows, and the next starts at the next batch's first key."""

    def __init__(self, table: str, encoders: RowEncoders, low: int, high: int):
        self._result = RangeDigests(table, low, high, [low], [], [])
        self._key = TARGET_COLUMNS[table].index(TARGET_KEY[table])
        self._encode = encoders.encoder(table)
        self._pieces: list[bytes] = []
        self._closed = False  # the current chunk is full: the next batch starts a new one

    def add_batch(self, rows: list[tuple]) -> None:
        """Mapped rows, in source-id order, exactly as handed to COPY."""
        if not rows:
            return
        if self._closed:
            self._result.first_ids.append(rows[0][self._key])
            self._closed = False
        self._pieces.extend(map(self._encode, rows))
        if len(self._pieces) >= CHUNK_ROWS:
            self._close_chunk()

    def _close_chunk(self) -> None:
        self._result.counts.append(len(self._pieces))
        self._result.digests.append(hashlib.sha256(b"".join(self._pieces)).digest() if self._pieces else None)
        self._pieces = []
        self._closed = True

    def finish(self) -> RangeDigests:
        if not self._closed:
            self._close_chunk()
        return self._result
