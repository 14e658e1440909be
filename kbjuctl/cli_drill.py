"""`kbjuctl drill`: the runbook's risky steps run for real on local processes, each ending in one verdict."""

from __future__ import annotations

import typer

from kbjuctl import cli_drill_release

app = typer.Typer(help="Drills on real processes, each ending in one verdict line.", no_args_is_help=True)
app.command("rolling-upgrade")(cli_drill_release.rolling_upgrade)
app.command("cutover")(cli_drill_release.cutover)
