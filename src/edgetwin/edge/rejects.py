"""Bad input, counted by reason and logged at most once a second (with the counts so far), so a
flood of it can neither stop the pipeline nor flood the log."""

from __future__ import annotations

import logging
import time
from collections import Counter


class Rejects(Counter[str]):
    """A counter by reason that also logs, rate-limited; ``dict(rejects)`` is the report."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        super().__init__()
        self._log = log
        self._what = what
        self._last_log = 0.0

    def add(self, reason: str, detail: str) -> None:
        self[reason] += 1
        now = time.monotonic()
        if now - self._last_log > 1.0:
            self._last_log = now
            self._log.warning(
                "%s (%s): %.200s [so far: %s]", self._what, reason, detail, dict(self)
            )
