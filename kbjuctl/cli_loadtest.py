"""`kbjuctl loadtest` (placeholder until the load-test issue lands)."""

from kbjuctl.errors import OperationFailed


def loadtest() -> None:
    """Run Locust load tests against the bot (not built yet)."""
    raise OperationFailed("loadtest is not available yet.")
