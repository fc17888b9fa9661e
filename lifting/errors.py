"""User-facing errors: one line, no traceback, non-zero exit."""

import sys
from typing import Callable

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user (file, key, shape, value). The message names what and what was expected."""

    def __init__(self, message: str = ""):
        # A DataLoader worker's UserError is re-created in the main process from the worker's formatted
        # traceback, whose last line holds the original message: keep that line only.
        if "\n" in message and "UserError: " in message:
            message = message.strip().splitlines()[-1].split("UserError: ", 1)[-1]
        super().__init__(message)


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a script's main(); turn UserError (and other expected input failures) into one stderr line + exit 2."""
    try:
        code = main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
