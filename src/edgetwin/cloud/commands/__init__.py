"""Device commands in the cloud: lifecycle, idempotency, audit log, dispatch over MQTT.

Lifecycle::

    queued -> sent -> delivered -> succeeded | failed
       \\________\\________\\_____-> expired   (ttl passed before the device answered)

States only move forward; a late or repeated report changes nothing. Every command is one row
of the audit log with who asked, what, when, and each transition with its time and reporter:
the ``commands`` table of the PostgreSQL store when the cloud runs on one
(``--db postgresql://...``), else the SQLite file ``<data-dir>/commands.db``.

Modules, each importing only those listed before it:

- :mod:`.lifecycle`: the states, :func:`advance`, :class:`Target`;
- :mod:`.rows`: what both logs share (the row as the API shows it, a forward move, the reads);
- :mod:`.log_sqlite`, :mod:`.log_pg`: the two logs;
- :mod:`.log`: the :class:`CommandLog` protocol and :func:`command_log_for`;
- :mod:`.service`: :class:`CommandService`.
"""

from edgetwin.cloud.commands.lifecycle import ORDER, TERMINAL, CommandState, Target, advance
from edgetwin.cloud.commands.log import CommandLog, command_log_for
from edgetwin.cloud.commands.log_pg import PgCommandLog
from edgetwin.cloud.commands.log_sqlite import SqliteCommandLog
from edgetwin.cloud.commands.service import CommandService

__all__ = [
    "ORDER",
    "TERMINAL",
    "CommandLog",
    "CommandService",
    "CommandState",
    "PgCommandLog",
    "SqliteCommandLog",
    "Target",
    "advance",
    "command_log_for",
]
