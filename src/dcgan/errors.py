"""Errors that reach the user as one line and exit status 2 (never a traceback)."""


class DcganError(Exception):
    """A problem the user can fix: the message says what is wrong and what to do."""

    exit_code = 2


class DataError(DcganError):
    """A data source is missing, empty, unreadable or of the wrong kind."""


class CheckpointError(DcganError):
    """A checkpoint is missing, incomplete, unsafe or does not fit the model."""


class ConfigError(DcganError):
    """A preset, flag or config value is invalid."""


class DivergenceError(DcganError):
    """Training produced NaN/inf and could not be rolled back (exit status 3)."""

    exit_code = 3
