"""Load tests as a service: start the stack, run Locust, collect its reports, check, give a verdict.

Knows nothing of Typer; `kbjuctl loadtest` (kbjuctl/cli_loadtest.py) and the tests call `run`.
"""

from kbjuctl.loadtest.plan import FAULTS, Plan, parse_duration

__all__ = ["FAULTS", "Plan", "parse_duration", "run"]


def __getattr__(name: str):
    if name == "run":  # imported on use: it brings Locust's side of the stack with it
        from kbjuctl.loadtest.service import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
