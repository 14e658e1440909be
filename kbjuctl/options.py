"""Options shared by several commands, declared once so --help documents them the same way.

Help texts are plain text (kbjuctl.main turns rich markup off): square brackets and the like
show as written. An option read from the environment declares `envvar=`, and --help shows it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.config_checks import check_database_url
from kbjuctl.errors import BadInput

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        help="Target database, postgresql://user[:password]@host[:port]/dbname.",
        show_default=False,
    ),
]

JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON for scripts "
                                          "(its schema: docs/schemas/).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (for scripts); without a "
                                   "terminal and without --yes the command refuses.")]


def require_database_url(url: str | None) -> str:
    """The validated URL, or BadInput saying how to give one."""
    if not url:
        raise BadInput("No database given: pass --database-url postgresql://user@host:5432/db or set DATABASE_URL.")
    try:
        return check_database_url(url)
    except ValueError as exc:
        raise BadInput(f"--database-url: {exc}") from None
