"""Kept for importers of the old path: the command log now lives in
:mod:`edgetwin.cloud.commands` (``from edgetwin.cloud.commands import command_log_for``)."""

from edgetwin.cloud.commands.log import CommandLog, command_log_for
from edgetwin.cloud.commands.log_sqlite import SqliteCommandLog

__all__ = ["CommandLog", "SqliteCommandLog", "command_log_for"]
