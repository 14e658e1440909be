"""`kbjuctl run` (placeholder until the bot lands)."""

from kbjuctl.errors import OperationFailed


def run() -> None:
    """Run the bot."""
    raise OperationFailed("run is not available yet.")
