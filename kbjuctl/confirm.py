"""Destructive commands say exactly what they will do, then ask on a terminal; `--yes` is for scripts.

Without a terminal and without `--yes` nothing is done: a script that forgot `--yes` must not
destroy data because nobody was there to say no.
"""

from __future__ import annotations

import sys

import typer

from kbjuctl.console import err
from kbjuctl.errors import BadInput, KbjuctlError


class Declined(KbjuctlError):
    """The person answered no: nothing was changed."""

    exit_code = 1


def confirm(what: str, details: list[str], *, yes: bool) -> None:
    """Show the plan on stderr (stdout stays for results and --json), then ask unless `yes`."""
    err.print(f"[bold yellow]{what}[/]", highlight=False)
    for line in details:
        err.print(f"  {line}", highlight=False, markup=False)
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput("This changes data and there is no terminal to confirm it on: nothing was done. "
                       "Check the plan above (--dry-run shows it without asking), then run again with --yes.")
    if not typer.confirm("Go ahead?", default=False, err=True):
        raise Declined("Nothing was changed.")
