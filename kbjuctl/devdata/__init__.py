"""Old-bot (DEV) SQLite databases made on demand: the migration's rehearsal data and the tests' fixtures.

`make_sqlite` writes a file in the DEV bot's exact schema, filled with synthetic people whose rows
follow what the DEV code really wrote, its quirks included (docs/migration.md lists them), and
returns the facts of what it wrote. The same arguments always give a byte-identical file.
"""

from kbjuctl.devdata.generator import Facts, Window, make_sqlite

__all__ = ["Facts", "Window", "make_sqlite"]
