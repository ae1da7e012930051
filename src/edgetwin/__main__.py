"""``python -m edgetwin ARGS...`` is ``edgetwin ARGS...``; a supervisor's parts are started as
``python -m edgetwin --supervisor-pid PID ARGS...``, which ties their life to the supervisor's
(:func:`edgetwin.process.die_with_parent`)."""

from __future__ import annotations

import sys

from edgetwin.cli import app
from edgetwin.process import SUPERVISOR_PID_FLAG, die_with_parent


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, first tying this process to its supervisor if the flag says so."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [SUPERVISOR_PID_FLAG]:
        die_with_parent(int(args[1]))
        args = args[2:]
    app(args=args, prog_name="edgetwin")


if __name__ == "__main__":
    main()
