"""A run directory and what is written into it: config, TensorBoard scalars, progress, results.

A run directory holds `config.yaml`, `last.pt`, `best.pt`, `results.json`, `results.md`, `tb/` and `.lock`, the
advisory lock of its one writer: a second process training into the same directory is refused.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lifting.config import save_config
from lifting.errors import UserError
from lifting.fileio import check_output_dir, write_json, write_text


class RunDir:
    """Paths of one run's outputs, and the writer lock once `prepare_run` took it."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.last = self.root / "last.pt"
        self.best = self.root / "best.pt"
        self.config = self.root / "config.yaml"
        self.results = self.root / "results.json"
        self.results_md = self.root / "results.md"
        self.tb = self.root / "tb"
        self.lock = self.root / ".lock"
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Take the writer lock (flock on `.lock`) or refuse in one line; the kernel drops it when this process
        ends, however it ends (even SIGKILL), so a stale lock file never blocks a later run."""
        try:
            fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"{self.lock}: cannot create the run directory's lock file ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise UserError(f"{self.root}: {who} is already writing this run directory (lock {self.lock}); "
                            "wait for it to finish or use another out_dir") from None
        except OSError as e:  # e.g. a network filesystem without locks
            os.close(fd)
            raise UserError(f"{self.lock}: cannot lock the run directory ({e.strerror}); use an out_dir on a "
                            "local disk") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the refusal message
        self._lock_fd = fd

    def release(self) -> None:
        """Drop the writer lock at the end of the run (a later run in this process may take it again)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def check_run_dir(out_dir: str | os.PathLike, resume: bool = False) -> RunDir:
    """What can be checked before any work: out_dir can be created and written, and `resume` has a last.pt."""
    run = RunDir(check_output_dir(out_dir, "out_dir"))
    if resume and not run.last.is_file():
        raise UserError(f"{run.last}: nothing to resume (no last.pt in out_dir); run without --resume first")
    return run


def prepare_run(out_dir: str | os.PathLike, cfg: dict[str, Any], resume: bool = False) -> RunDir:
    """Create the run directory, take its writer lock and save the resolved config; `resume` requires an
    existing last.pt. The caller releases the lock (`RunDir.release`) when the run ends."""
    run = check_run_dir(out_dir, resume)
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{run.root}: cannot create output directory ({e.strerror})") from None
    run.acquire()
    try:
        save_config(run.config, cfg)
    except BaseException:
        run.release()
        raise
    return run


class Logger:
    """TensorBoard scalars (only when enabled; rank 0 in distributed runs)."""

    def __init__(self, run: RunDir, enabled: bool = True):
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(run.tb))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool = True):
    """tqdm progress bar on an interactive terminal; silent otherwise (logs stay readable)."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def write_results(run: RunDir, results: dict[str, Any], markdown: str | None = None) -> None:
    """results.json (and results.md if given), each written atomically."""
    write_json(run.results, results)
    if markdown is not None:
        write_text(run.results_md, markdown)
