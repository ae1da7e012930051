"""The exception tree of edgetwin.

EdgetwinError
├── ConfigError              a setting is missing, malformed or contradicts another
│   └── PipelineConfigError  the edge's pipeline file names an unknown plugin or a bad key
├── PortInUseError           a listener cannot bind; says how to choose another port
├── WireFormatError          a reading on the wire is malformed (carries one reason per bad item)
├── StoreUnavailableError    the store cannot commit right now; the caller must retry later
├── SinkRetryableError       a sink could not write a batch now; it stays in the outbox
│   └── BatchTooLargeError   the target refused the batch's size; send smaller ones
└── DeviceLinkError          a command cannot reach its device (port closed, broker down)

Errors that one module raises and catches itself stay beside it, precise and private to it:
the MQTT transport's ``BrokerLinkError`` (why a broker cannot be reached), the CSV reader's
``IncompleteFileError``/``MalformedFileError`` (the drop-folder source turns them into a wait or
a ``rejected/`` file), the cloud sink's ``CloudUnreachableError`` (a ``SinkRetryableError``), and
a pack's own (the motor's ``LinkBusyError``). Anything that crosses a layer is one of the above.
"""

from __future__ import annotations


class EdgetwinError(Exception):
    """Base class of every error edgetwin raises on purpose."""


class ConfigError(EdgetwinError):
    """A setting is missing, malformed, or contradicts another one."""


class PortInUseError(EdgetwinError):
    """A TCP port we were told to listen on is taken."""

    def __init__(self, what: str, host: str, port: int, hint: str) -> None:
        super().__init__(f"{what}: {host}:{port} is already in use. {hint}")
        self.what = what
        self.host = host
        self.port = port


class WireFormatError(EdgetwinError):
    """One or more readings are malformed.

    ``problems`` holds one entry per bad item: ``{"index": i, "errors": [...]}``.
    """

    def __init__(self, problems: list[dict[str, object]]) -> None:
        super().__init__(f"{len(problems)} malformed reading(s)")
        self.problems = problems


class StoreUnavailableError(EdgetwinError):
    """The store cannot commit now (database gone, disk full); retry later."""


class PipelineConfigError(ConfigError):
    """The pipeline configuration is wrong; the message names the file, the table and the key."""


class SinkRetryableError(EdgetwinError):
    """A sink could not write a batch now (target down, timeout, 5xx); retry later."""


class BatchTooLargeError(SinkRetryableError):
    """The target refused the batch as too large; the forwarder halves its batch size."""


class DeviceLinkError(EdgetwinError):
    """A command cannot be written to its device (port closed, broker unreachable)."""
