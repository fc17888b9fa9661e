"""User-facing errors: one line, no traceback, non-zero exit."""

import logging
import os
import sys

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user (file, key, shape, value). The message names what and what was expected."""

    def __init__(self, message: str = ""):
        # A DataLoader worker's UserError is re-created in the main process from the worker's formatted
        # traceback, whose last line holds the original message: keep that line only.
        if "\n" in message and "UserError: " in message:
            message = message.strip().splitlines()[-1].split("UserError: ", 1)[-1]
        super().__init__(message)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (so redirected output, e.g. a paper run's log, gets it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup_logging() -> None:
    """Library messages go through the `lifting` logger to stdout, from rank 0 only under torchrun."""
    logger = logging.getLogger("lifting")
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING)
