"""The command-line layer every script shares: one argument parser, flags typed and range-checked by the config
schema's `Option`s, output paths checked before any work, and `run_cli`, so that each script's `main(argv)` runs
in-process and returns its exit code.

A script looks like this:

    from lifting.cli import ArgumentParser, add_option, check_output, run_cli
    from lifting.config import opt
    from lifting.options.h36m import SCHEMA

    FOV = opt(float, 55.0, "horizontal field of view (degrees)", exclusive_minimum=0, exclusive_maximum=180)

    def parser() -> ArgumentParser:
        p = ArgumentParser(prog="run_x.py", description=__doc__.splitlines()[0])
        add_option(p, "--epochs", SCHEMA["epochs"])        # checked exactly as the config key `epochs`
        add_option(p, "--fov", FOV)                          # a flag of its own, with its own range
        add_option(p, "--box", opt(float, None, "x,y,w,h px", nullable=True, minimum=-1e5, maximum=1e5), count=4)
        p.add_argument("--out", type=Path, required=True)
        return p

    def run(argv: list[str] | None) -> int:
        args = parser().parse_args(argv)
        out = check_output(args.out, "--out", (".npz",))     # before any data is read or model built
        ...
        return 0

    def main(argv: list[str] | None = None) -> int:
        return run_cli(run, argv)

    if __name__ == "__main__":
        sys.exit(main())
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifting.errors import EXIT_USAGE, UserError, setup_logging
from lifting.fileio import check_output_file

if TYPE_CHECKING:
    from lifting.config import Option

CAMERA_FRAME = "camera frame (OpenCV): x right, y down, z forward"
IMAGE_FRAME = "image pixels: origin at the top-left pixel's centre, x right, y down"


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}\n")


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """The options every training entry point shares: --opt FILE, --set KEY=VALUE..., --resume."""
    parser.add_argument("--opt", type=str, default=None, help="YAML config file")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override any config key (value parsed as YAML; lists as a,b,c)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run found in out_dir from its last checkpoint")


def _scalar(option: Option, item_type: type | None, text: str, flag: str) -> Any:
    """A flag's text as the first of the option's types it parses as (null, bool, int, float, then str)."""
    if option.nullable and text.strip().lower() in ("null", "none"):
        return None
    types = (item_type,) if item_type else tuple(t for t in option.types if t is not list)
    for t in sorted(types, key=(bool, int, float, str).index):
        if t is bool and text.strip().lower() in ("true", "false"):
            return text.strip().lower() == "true"
        if t in (int, float):
            try:
                return t(text)
            except ValueError:
                continue
        if t is str:
            return text
    raise UserError(f"{flag} {text!r}: expected {option.type_name()}")


def typed(option: Option, flag: str, count: int | tuple[int, ...] | None = None) -> Callable[[str], Any]:
    """An argparse `type` that checks a flag's text exactly as the config key `option` is checked (type, bounds,
    choices, finite floats): '--epochs 5'. A list option, or a `count` (how many values, or the allowed counts),
    takes comma-separated values: '--box 120,40,200,420'. A bad value is a one-line UserError naming the flag."""
    from lifting.config import check_value

    counts = (count,) if isinstance(count, int) else count
    item = option.item if list in option.types else None

    def parse(text: str) -> Any:
        if counts is None and list not in option.types:
            return check_value(option, _scalar(option, None, text, flag), flag)
        values = [_scalar(option, item, v.strip(), flag) for v in text.split(",") if v.strip()]
        if counts is not None and len(values) not in counts:
            want = " or ".join(str(c) for c in counts)
            raise UserError(f"{flag} {text!r}: expected {want} comma-separated values")
        if list in option.types:
            return check_value(option, values, flag)
        return [check_value(option, v, flag) for v in values]

    parse.option, parse.count = option, counts  # what the flag accepts, for tests that enumerate the flags
    return parse


def add_option(parser: argparse.ArgumentParser, flag: str, option: Option, count: int | tuple[int, ...] | None = None,
               **kwargs: Any) -> argparse.Action:
    """`parser.add_argument(flag, ...)` typed by `typed(option, flag, count)`, the option's default and its help
    with what is valid; `kwargs` (dest, default, required, metavar, help) override."""
    valid = option.valid_text()
    kwargs.setdefault("default", option.default)
    kwargs.setdefault("help", f"{option.help}{f' ({valid})' if valid else ''}")
    return parser.add_argument(flag, type=typed(option, flag, count), **kwargs)


def check_output(path: Path | None, option: str, suffixes: tuple[str, ...]) -> Path | None:
    """Refuse, before anything is computed, an output path with an unsupported suffix or one that cannot be
    written (`fileio.check_output_file`)."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: expected a file ending in {' or '.join(suffixes)}")
    return check_output_file(path, option)


def parse_numbers(text: str, count: int | tuple[int, ...], option: str) -> tuple[float, ...]:
    """'1,2.5,3' -> (1.0, 2.5, 3.0), with exactly `count` (or one of several counts) finite numbers."""
    counts = (count,) if isinstance(count, int) else count
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in counts or not all(v == v and abs(v) != float("inf") for v in values):
        want = " or ".join(str(c) for c in counts)
        raise UserError(f"{option} {text!r}: expected {want} comma-separated finite numbers")
    return values


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """main(argv) as a command: its exit code (0 for None); a UserError becomes one 'error: ...' line on stderr and
    exit code 2, as do argparse's usage errors; --help exits 0. Callable in-process: nothing calls sys.exit."""
    setup_logging()
    try:
        return main(argv) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # argparse: usage error (its line is printed) or --help
        return e.code if isinstance(e.code, int) else 0 if e.code is None else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
