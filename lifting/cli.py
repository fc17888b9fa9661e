"""What the inference scripts share: comma-separated numbers from the command line, output paths checked before any
work starts, and the names of the frames their outputs' metadata states."""

from __future__ import annotations

from pathlib import Path

from lifting.errors import UserError
from lifting.fileio import check_output_file

CAMERA_FRAME = "camera frame (OpenCV): x right, y down, z forward"
IMAGE_FRAME = "image pixels: origin at the top-left pixel's centre, x right, y down"


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


def check_output(path: Path | None, option: str, suffixes: tuple[str, ...]) -> Path | None:
    """Refuse, before anything is computed, an output path with an unsupported suffix or one that cannot be
    written (`fileio.check_output_file`)."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: expected a file ending in {' or '.join(suffixes)}")
    return check_output_file(path, option)
