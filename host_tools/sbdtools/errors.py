"""The host tools' exception tree.

Every error meant for the person at the keyboard is an SbdError; the CLI's one
error boundary prints it as ``sbd: <message>`` and exits non-zero.  Messages
say what is wrong and, where there is one, what to do about it.
"""


class SbdError(Exception):
    """An error the CLI reports to the user without a traceback."""


class ConfigError(SbdError):
    """A data file (board config, project file) is malformed."""


class VBoardError(SbdError):
    """A virtual-board operation failed."""


class ToolMissingError(SbdError):
    """An external program sbd needs is not installed."""
