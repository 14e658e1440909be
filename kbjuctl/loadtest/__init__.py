"""Load tests as a service: start the stack, run Locust, collect its reports, check, give a verdict.

Knows nothing of Typer; `kbjuctl loadtest` (kbjuctl/cli_loadtest.py) and the tests call `run`.
"""

from kbjuctl.loadtest.plan import FAULTS, Plan, parse_duration
from kbjuctl.loadtest.service import run

__all__ = ["FAULTS", "Plan", "parse_duration", "run"]
