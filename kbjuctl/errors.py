"""Expected failures of kbjuctl commands, each mapped to a message and an exit code in main.py."""

from __future__ import annotations


class KbjuctlError(Exception):
    """An expected failure: its message is shown as is, without a traceback."""

    exit_code = 1


class BadInput(KbjuctlError):
    """A bad argument, file, setting or unreachable target: nothing was changed."""

    exit_code = 2


class VerificationFailed(KbjuctlError):
    """The work ran but its result does not match what it must be."""

    exit_code = 1


class OperationFailed(KbjuctlError):
    """The work could not be done (a tool failed, the database refused)."""

    exit_code = 1


class OutcomeUnknown(KbjuctlError):
    """The connection was lost while a change committed, and the server cannot be asked which way it went."""

    exit_code = 3
