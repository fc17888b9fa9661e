"""User-facing errors: one line, no traceback, non-zero exit."""

import sys
from typing import Callable

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user (file, key, shape, value). The message names what and what was expected."""


def one_line(error: UserError) -> str:
    """The error's message. A UserError raised in a DataLoader worker comes back with the worker's traceback
    folded into its message; its last line is the original message."""
    lines = str(error).strip().splitlines()
    if len(lines) <= 1:
        return lines[0] if lines else type(error).__name__
    return lines[-1].split("UserError: ", 1)[-1]


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a script's main(); turn UserError (and other expected input failures) into one stderr line + exit 2."""
    try:
        code = main()
    except UserError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
