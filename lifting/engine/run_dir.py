"""A run directory and what is written into it: config, TensorBoard scalars, progress, results.

A run directory holds `config.yaml`, `last.pt`, `best.pt`, `results.json`, `results.md` and `tb/`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lifting.config import save_config
from lifting.errors import UserError
from lifting.fileio import write_json, write_text


class RunDir:
    """Paths of one run's outputs."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.last = self.root / "last.pt"
        self.best = self.root / "best.pt"
        self.config = self.root / "config.yaml"
        self.results = self.root / "results.json"
        self.results_md = self.root / "results.md"
        self.tb = self.root / "tb"


def prepare_run(out_dir: str | os.PathLike, cfg: dict[str, Any], resume: bool = False) -> RunDir:
    """Create the run directory and save the resolved config; `resume` requires an existing last.pt."""
    run = RunDir(out_dir)
    if resume and not run.last.is_file():
        raise UserError(f"{run.last}: nothing to resume (no last.pt in out_dir); run without --resume first")
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{run.root}: cannot create output directory ({e.strerror})") from None
    save_config(run.config, cfg)
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
